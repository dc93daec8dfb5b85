// The embedding API under concurrency: 4 threads x 25 requests on one shared model, each thread
// with its own session, give exactly the sequential results. Uses the C++ wrapper (glimpse.hpp)
// over libglimpse.so only. Also: Cancel pressed on another thread (as a window's button would be)
// stops a long generation within one decode step.
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
    // Abort from another thread: a 500-token caption (min_length keeps EOS away) is cancelled by
    // the main thread once 3 tokens are out; at most one more token may follow the request.
    {
      // The third token's callback waits until the request is made, so a fast backend cannot
      // race past it: then at most one more token may follow.
      struct Stream {
        std::atomic<bool> stop{false}, third{false};
        std::atomic<int> tokens{0}, after_stop{0};
      } s;
      glimpse_generate_params p = glimpse_generate_default_params();
      p.max_length = p.min_length = 500;
      p.token_user_data = &s;
      p.on_token = [](void* ud, uint32_t, const char*) {
        auto* st = static_cast<Stream*>(ud);
        if (st->stop) ++st->after_stop;
        if (++st->tokens == 3) {
          st->third = true;
          while (!st->stop) std::this_thread::yield();
        }
      };
      p.abort_user_data = &s;
      p.abort = [](void* ud) -> int { return static_cast<Stream*>(ud)->stop ? 1 : 0; };
      glimpse_status status = GLIMPSE_OK;
      std::thread worker([&] {
        glimpse::embed::Session session(caption_model);
        try {
          session.caption(images[0], p);
        } catch (const glimpse::embed::Error& e) {
          status = e.status();
        }
      });
      while (!s.third) std::this_thread::yield();
      s.stop = true;
      worker.join();
      std::printf("abort: %d tokens before the request, %d after\n", s.tokens - s.after_stop, s.after_stop.load());
      check(status == GLIMPSE_ERROR_CANCELLED, "an abort from another thread cancels the caption");
      check(s.after_stop <= 1 && s.tokens < 100, "the caption stops within one decode step of the abort");
    }
    check(std::string(caption_model.info().architecture) == "BlipForConditionalGeneration", "model info");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    ++failed;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
