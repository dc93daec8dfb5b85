// libFuzzer: glimpse-server's handling of untrusted request bodies: chat_request_parse, then the
// image URL it names (data: URIs decoded, file:// confined, remote refused), plus the base64 and
// UTF-8 helpers on the raw bytes. Only ApiError counts as a clean refusal.
#include "samples/server/api.hpp"
#include "samples/server/media.hpp"

#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse::server;
  const std::string body(reinterpret_cast<const char*>(data), size);
  std::string decoded;
  if (base64_decode(body, decoded) && decoded.size() > body.size()) std::abort();
  if (utf8_complete_prefix(body) > body.size()) std::abort();
  MediaPolicy policy;
  policy.media_root = "/nonexistent-glimpse-fuzz-root";
  policy.max_bytes = 1 << 16;
  try {
    const ChatRequest r = chat_request_parse(body);
    const ImageSource src = image_source_resolve(r.image_url, policy);
    if (src.bytes.size() > policy.max_bytes) std::abort();
    Completion c;
    c.content = r.text;
    (void)completion_json(c).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const ApiError& e) {
    (void)error_body(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return 0;
}
