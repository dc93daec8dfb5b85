// libFuzzer: glimpse-server's HTTP layer on untrusted bytes: the request parser (heads, Content-Length
// and chunked bodies, pipelined requests) fed in pieces whose size the first byte picks, with small
// limits; the image URL parser and the JSON budget scan on the same bytes. The parser never throws:
// it refuses with a status. Invariants: bodies within the limit, refusals with a 4xx/5xx status,
// consumed bytes within the buffer.
#include "samples/server/api.hpp"
#include "samples/server/fetch.hpp"
#include "samples/server/http.hpp"

#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse::server;
  if (size == 0) return 0;
  const size_t step = size_t(data[0] % 64) + 1;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  http::Limits limits;
  limits.max_head_bytes = 512;
  limits.max_headers = 8;
  limits.max_body_bytes = 256;
  limits.max_chunk_line = 64;
  http::RequestParser parser(limits);
  std::string buf;
  for (size_t at = 0; at < text.size(); at += step) {
    buf.append(text, at, step);
    for (int requests = 0; requests < 64; ++requests) {
      const auto p = parser.advance(buf);
      if (p == http::RequestParser::Progress::NeedMore) break;
      if (p == http::RequestParser::Progress::HeadReady) {
        if (parser.request().method.empty() || parser.request().path.empty() || parser.request().path[0] != '/') std::abort();
        continue;
      }
      if (p == http::RequestParser::Progress::Failed) {
        if (parser.error_status() < 400 || parser.error_status() > 505 || parser.error_message().empty()) std::abort();
        return 0;
      }
      // Complete: the next pipelined request starts after it.
      if (parser.request().body.size() > limits.max_body_bytes || parser.consumed() > buf.size()) std::abort();
      buf.erase(0, parser.consumed());
      parser.reset();
    }
  }
  try {
    const HttpUrl u = http_url_parse(text);
    if (u.path.empty() || u.path[0] != '/' || u.host.empty() || u.port < 1 || u.port > 65535) std::abort();
  } catch (const ApiError&) {
  }
  try {
    json_budget_check(text, JsonBudget{4, 64});
  } catch (const ApiError&) {
  }
  return 0;
}
