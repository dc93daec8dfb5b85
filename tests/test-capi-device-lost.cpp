// A lost device (VK_ERROR_DEVICE_LOST: a GPU reset, a driver crash) through the public C API:
// the requests in flight end with GLIMPSE_ERROR_DEVICE, and the next request recreates the
// device and the model's device state, then succeeds with the same result. The loss is injected
// with the runtime's test switch GLIMPSE_TEST_DEVICE_LOST_AT=N (the Nth pass run while the
// variable is set reports a lost device), set and cleared here between requests.
#include "glimpse.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
  const std::string image = data + "/blip/pattern.png";
  glimpse_model* model = nullptr;
  if (glimpse_model_load((data + "/blip/tiny-base").c_str(), nullptr, &model) != GLIMPSE_OK) {
    std::fprintf(stderr, "FAILED: load: %s\n", glimpse_last_error());
    return 1;
  }
  glimpse_session* session = nullptr;
  glimpse_session_create(model, &session);
  const glimpse_image img = glimpse_image_from_path(image.c_str());
  auto caption = [&](glimpse_session* s, std::string* text) {
    glimpse_result r{};
    const glimpse_status st = glimpse_caption(s, &img, nullptr, &r);
    if (st == GLIMPSE_OK && text) *text = r.text;
    glimpse_result_free(&r);
    return st;
  };
  std::string want, got;
  check(caption(session, &want) == GLIMPSE_OK && !want.empty(), "a caption before any loss");

  // The third pass of this request finds the device lost.
  setenv("GLIMPSE_TEST_DEVICE_LOST_AT", "3", 1);
  check(caption(session, nullptr) == GLIMPSE_ERROR_DEVICE, "a request in flight at the loss: GLIMPSE_ERROR_DEVICE");
  check(std::strstr(glimpse_session_last_error(session), "VK_ERROR_DEVICE_LOST") != nullptr &&
            std::strstr(glimpse_session_last_error(session), "the next request recreates the device") != nullptr,
        "the message names the loss and what happens next");
  unsetenv("GLIMPSE_TEST_DEVICE_LOST_AT");
  check(caption(session, &got) == GLIMPSE_OK && got == want, "the next request recreates the device: same caption");
  check(caption(session, &got) == GLIMPSE_OK && got == want, "and the one after");

  // Two sessions in flight on the model when the device goes: each request ends OK or with
  // GLIMPSE_ERROR_DEVICE (never another status, never a crash), and the model recovers.
  glimpse_session* other = nullptr;
  glimpse_session_create(model, &other);
  setenv("GLIMPSE_TEST_DEVICE_LOST_AT", "8", 1);  // counting goes on from the 3 passes above
  std::atomic<int> ok{0}, lost{0}, wrong{0};
  std::vector<std::thread> threads;
  for (glimpse_session* s : {session, other})
    threads.emplace_back([&, s] {
      for (int i = 0; i < 3; ++i) {
        std::string text;
        const glimpse_status st = caption(s, &text);
        if (st == GLIMPSE_OK && text == want) ++ok;
        else if (st == GLIMPSE_ERROR_DEVICE) ++lost;
        else ++wrong;
      }
    });
  for (auto& t : threads) t.join();
  unsetenv("GLIMPSE_TEST_DEVICE_LOST_AT");
  check(wrong == 0 && lost >= 1 && ok >= 1, "concurrent requests: OK or GLIMPSE_ERROR_DEVICE, and some of each");
  check(caption(other, &got) == GLIMPSE_OK && got == want, "recovered after the concurrent loss");
  glimpse_session_free(other);
  glimpse_session_free(session);
  glimpse_model_free(model);
  std::printf("capi-device-lost: %d passed, %d failed (ok %d, lost %d)\n", passed, failed, ok.load(), lost.load());
  return failed ? 1 : 0;
}
