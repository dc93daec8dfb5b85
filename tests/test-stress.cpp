// Under load (issue 8): THREADS threads x REQUESTS requests (default 8 x 200) mixing captioning and
// VQA on one loaded model of each kind, through the C API (libglimpse.so), on good images and broken
// ones. Every good request must give exactly the single-threaded result, every broken one exactly
// its single-threaded error; resident memory is sampled all along and must be flat after warm-up
// (the second half of the run may not grow it by more than 32 MiB). Also: a model over a device
// memory cap fails with GLIMPSE_ERROR_OUT_OF_MEMORY and the process stays usable.
//
//   glimpse_stress [THREADS] [REQUESTS]
#include "glimpse.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint64_t rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) << 10;
  return 0;
}

struct Input {
  std::string name;
  std::vector<uint8_t> bytes;  // encoded image (possibly broken)
};

// What a request gave: token ids, or the status and message of its failure.
struct Outcome {
  std::vector<uint32_t> ids;
  glimpse_status status = GLIMPSE_OK;
  std::string error;
  bool operator==(const Outcome& o) const { return ids == o.ids && status == o.status && error == o.error; }
};

Outcome run(glimpse::embed::Session& s, const Input& in, const char* question) {
  Outcome o;
  const glimpse_image img = glimpse_image_from_encoded(in.bytes.data(), in.bytes.size());
  try {
    o.ids = question ? s.answer(img, question).token_ids : s.caption(img).token_ids;
  } catch (const glimpse::embed::Error& e) {
    o.status = e.status();
    o.error = e.what();
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::max(1, std::atoi(argv[1])) : 8;
  const int requests = argc > 2 ? std::max(2, std::atoi(argv[2])) : 200;
  const fs::path src = GLIMPSE_SOURCE_DIR;
  int failed = 0;
  auto check = [&](bool ok, const std::string& what) {
    std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
    if (!ok) ++failed;
  };
  try {
    // Inputs: the bundled sample scenes and photos of every format, then broken files.
    std::vector<Input> inputs;
    for (const auto& e : fs::directory_iterator(src / "samples/images"))
      if (e.path().extension() == ".png") inputs.push_back({e.path().filename().string(), read_file(e.path())});
    std::sort(inputs.begin(), inputs.end(), [](const Input& a, const Input& b) { return a.name < b.name; });
    for (const char* f : {"rgb.jpg", "exif-6.jpg", "gray.png", "palette-trns.png", "cmyk.jpg", "rgb16.png"})
      inputs.push_back({f, read_file(src / "tests/data/images" / f)});
    const size_t good = inputs.size();
    const std::vector<uint8_t> jpg = read_file(src / "tests/data/images/rgb.jpg");
    const std::vector<uint8_t> png = read_file(src / "tests/data/images/rgb.png");
    inputs.push_back({"truncated.jpg", std::vector<uint8_t>(jpg.begin(), jpg.begin() + long(jpg.size() / 2))});
    inputs.push_back({"truncated.png", std::vector<uint8_t>(png.begin(), png.begin() + 60)});
    inputs.push_back({"empty", {}});
    inputs.push_back({"garbage", std::vector<uint8_t>(4096, 0x5a)});
    std::vector<uint8_t> bomb = png;  // IHDR width and height (big-endian, bytes 16..23) -> 30000 x 30000
    for (int k : {16, 20}) bomb[size_t(k)] = 0, bomb[size_t(k) + 1] = 0, bomb[size_t(k) + 2] = 0x75, bomb[size_t(k) + 3] = 0x30;
    inputs.push_back({"bomb-30000x30000.png", bomb});
    const std::vector<const char*> questions = {nullptr, "how many circles are there?", "what color is the star?",
                                                "is there a red square?", "where is the blue triangle?"};

    glimpse::embed::Model captioner((src / "models/blip-scenes-caption").string());
    glimpse::embed::Model vqa((src / "models/blip-scenes-vqa").string());

    // Single-threaded references for every (input, question) pair.
    std::vector<Outcome> want(inputs.size() * questions.size());
    {
      glimpse::embed::Session c(captioner), v(vqa);
      for (size_t i = 0; i < inputs.size(); ++i)
        for (size_t q = 0; q < questions.size(); ++q)
          want[i * questions.size() + q] = run(questions[q] ? v : c, inputs[i], questions[q]);
    }
    size_t broken_errors = 0;
    for (size_t i = good; i < inputs.size(); ++i)
      broken_errors += want[i * questions.size()].status != GLIMPSE_OK && !want[i * questions.size()].error.empty();
    check(broken_errors == inputs.size() - good, "every broken input gives an error with a message, single-threaded");
    for (size_t i = good; i < inputs.size(); ++i)
      std::printf("  %s: %s\n", inputs[i].name.c_str(), want[i * questions.size()].error.c_str());

    // Memory samples every 20 ms while the threads run.
    std::atomic<bool> done{false};
    std::mutex mu;
    std::vector<std::pair<double, uint64_t>> samples;
    const auto t0 = std::chrono::steady_clock::now();
    auto since = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    std::thread sampler([&] {
      while (!done) {
        {
          std::lock_guard<std::mutex> lock(mu);
          samples.emplace_back(since(), rss_bytes());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    std::atomic<int> mismatches{0}, finished{0}, bad_done{0};
    std::atomic<double> half_time{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        glimpse::embed::Session c(captioner), v(vqa);
        for (int r = 0; r < requests; ++r) {
          const uint64_t h = (uint64_t(t) * 1000003u + uint64_t(r) * 7919u) * 0x9E3779B97F4A7C15ull;
          const size_t i = size_t(h >> 40) % inputs.size(), q = size_t(h >> 20) % questions.size();
          const Outcome got = run(questions[q] ? v : c, inputs[i], questions[q]);
          if (!(got == want[i * questions.size() + q])) {
            if (++mismatches <= 5)
              std::printf("  mismatch: thread %d request %d on %s: %s\n", t, r, inputs[i].name.c_str(), got.error.c_str());
          }
          if (i >= good) ++bad_done;
          if (++finished == threads * requests / 2) half_time = since();
        }
      });
    for (auto& th : pool) th.join();
    const double total = since();
    done = true;
    sampler.join();

    const int n = threads * requests;
    std::printf("%d threads x %d requests: %.1f s, %.1f requests/s, %d on broken inputs\n", threads, requests, total,
                n / total, bad_done.load());
    uint64_t peak = 0, at_half = 0, end = samples.empty() ? 0 : samples.back().second;
    for (const auto& [time, rss] : samples) {
      peak = std::max(peak, rss);
      if (time <= half_time) at_half = std::max(at_half, rss);
    }
    std::printf("resident memory (MiB) over time:");
    for (size_t k = 0; k < samples.size(); k += std::max<size_t>(1, samples.size() / 10))
      std::printf(" %.1fs=%.0f", samples[k].first, double(samples[k].second) / (1 << 20));
    std::printf("\npeak %.0f MiB; peak of the first half %.0f MiB, end %.0f MiB\n", double(peak) / (1 << 20),
                double(at_half) / (1 << 20), double(end) / (1 << 20));
    check(mismatches == 0, "every concurrent outcome equals the single-threaded one (" + std::to_string(n) + " requests)");
    check(peak <= at_half + (32ull << 20), "memory is flat after warm-up: the second half adds at most 32 MiB");

    // A device memory cap below the weights: the load fails cleanly, and glimpse goes on working.
    glimpse_model_params p = glimpse_model_default_params();
    p.memory_limit_bytes = 1 << 20;
    glimpse_model* capped = nullptr;
    const glimpse_status s = glimpse_model_load((src / "models/blip-scenes-caption").c_str(), &p, &capped);
    const std::string msg = glimpse_last_error();
    std::printf("  capped load: %s: %s\n", glimpse_status_name(s), msg.c_str());
    check(s == GLIMPSE_ERROR_OUT_OF_MEMORY && capped == nullptr && msg.find("over the limit of 1 MiB") != std::string::npos,
          "a model over a 1 MiB device memory cap fails with GLIMPSE_ERROR_OUT_OF_MEMORY naming the limit");
    // A caller built against 0.2 passes the struct without memory_limit_bytes: still accepted.
    glimpse_model_params old = glimpse_model_default_params();
    old.struct_size = uint32_t(offsetof(glimpse_model_params, memory_limit_bytes));
    glimpse_model* m02 = nullptr;
    check(glimpse_model_load((src / "models/blip-scenes-caption").c_str(), &old, &m02) == GLIMPSE_OK && m02,
          "0.2's shorter glimpse_model_params is still accepted");
    glimpse_model_free(m02);
    glimpse::embed::Session again(captioner);
    check(run(again, inputs[0], nullptr) == want[0], "after the failure the loaded model still gives the same caption");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    ++failed;
  }
  std::printf("%s\n", failed ? "stress: FAILED" : "stress: all checks pass");
  return failed ? 1 : 0;
}
