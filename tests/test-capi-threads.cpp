// The embedding API under concurrency: 4 threads x 25 requests on one shared model, each thread
// with its own session, give exactly the sequential results. Uses the C++ wrapper (glimpse.hpp)
// over libglimpse.so only.
#include "glimpse.hpp"

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

int main() {
  const std::string data = GLIMPSE_TEST_DATA;
  int failed = 0, passed = 0;
  auto check = [&](bool ok, const char* what) {
    if (ok) ++passed;
    else {
      ++failed;
      std::fprintf(stderr, "FAILED: %s\n", what);
    }
  };
  try {
    glimpse::embed::Model caption_model(data + "/blip/tiny-base");
    glimpse::embed::Model vqa_model(data + "/blip/tiny-vqa");
    const std::vector<std::string> images = {data + "/blip/pattern.png", data + "/images/rgb-420.jpg",
                                             data + "/images/rgb.png", data + "/images/exif-6.jpg"};
    const std::vector<std::string> questions = {"how many cats are there?", "what color is the car?"};
    // Sequential references.
    std::vector<std::vector<uint32_t>> want_caption, want_answer;
    {
      glimpse::embed::Session c(caption_model), v(vqa_model);
      for (const auto& img : images) {
        want_caption.push_back(c.caption(img).token_ids);
        for (const auto& q : questions) want_answer.push_back(v.answer(img, q).token_ids);
      }
    }
    std::atomic<int> mismatches{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        try {
          glimpse::embed::Session c(caption_model), v(vqa_model);
          for (int i = 0; i < 25; ++i) {
            const size_t k = size_t(t + i) % images.size();
            if (i % 2 == 0) {
              if (c.caption(images[k]).token_ids != want_caption[k]) ++mismatches;
            } else {
              const size_t q = size_t(i / 2) % questions.size();
              if (v.answer(images[k], questions[q]).token_ids != want_answer[k * questions.size() + q]) ++mismatches;
            }
          }
        } catch (const std::exception& e) {
          std::fprintf(stderr, "thread %d: %s\n", t, e.what());
          ++errors;
        }
      });
    for (auto& th : threads) th.join();
    check(errors == 0, "no request failed");
    check(mismatches == 0, "every concurrent result equals the sequential one");
    // The wrapper reports failures as exceptions with the status.
    glimpse::embed::Session c(caption_model);
    try {
      c.caption(data + "/nothere.png");
      check(false, "a missing image throws");
    } catch (const glimpse::embed::Error& e) {
      check(e.status() == GLIMPSE_ERROR_IO && std::string(e.what()).find("nothere.png") != std::string::npos,
            "a missing image throws GLIMPSE_ERROR_IO naming the file");
    }
    check(std::string(caption_model.info().architecture) == "BlipForConditionalGeneration", "model info");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    ++failed;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
