// glimpse-server's request reading, response shapes and image sources, without a socket
// (tests/server/ drives the running server).
#include "samples/server/api.hpp"
#include "samples/server/media.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace glimpse::server;
using nlohmann::json;

namespace {

std::string body_with(const json& extra, const json& content = json::array({{{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AAAA"}}}}})) {
  json j = {{"messages", json::array({{{"role", "user"}, {"content", content}}})}};
  if (extra.is_object()) j.update(extra);
  return j.dump();
}

int status_of(const std::string& body) {
  try {
    chat_request_parse(body);
  } catch (const ApiError& e) {
    return e.status;
  }
  return 200;
}

// The HTTP status an image URL gets: 200 when it resolves.
int resolve_status(const std::string& url, const MediaPolicy& policy) {
  try {
    image_source_resolve(url, policy);
  } catch (const ApiError& e) {
    return e.status;
  }
  return 200;
}

}  // namespace

TEST_CASE("server: chat request fields", "[server]") {
  const ChatRequest r = chat_request_parse(
      body_with({{"model", "m"}, {"max_tokens", 7}, {"temperature", 0.5}, {"seed", 3}, {"stream", true},
                 {"stream_options", {{"include_usage", true}}}},
                json::array({{{"type", "text"}, {"text", "what is"}},
                             {{"type", "image_url"}, {"image_url", "data:image/png;base64,AAAA"}},
                             {{"type", "text"}, {"text", "this?"}}})));
  CHECK(r.model == "m");
  CHECK(r.text == "what is this?");
  CHECK(r.image_url == "data:image/png;base64,AAAA");
  CHECK(*r.max_tokens == 7);
  CHECK(*r.temperature == 0.5f);
  CHECK(*r.seed == 3);
  CHECK((r.stream && r.include_usage));
  // max_completion_tokens wins over the older max_tokens
  CHECK(*chat_request_parse(body_with({{"max_tokens", 7}, {"max_completion_tokens", 9}})).max_tokens == 9);
  // the last user message counts
  json two = json::parse(body_with({}));
  two["messages"].push_back({{"role", "assistant"}, {"content", "a cat"}});
  two["messages"].push_back({{"role", "user"}, {"content", json::array({{{"type", "image_url"}, {"image_url", {{"url", "file:///x.png"}}}}})}});
  CHECK(chat_request_parse(two.dump()).image_url == "file:///x.png");
}

TEST_CASE("server: malformed requests are 400", "[server]") {
  CHECK(status_of("") == 400);
  CHECK(status_of("[]") == 400);
  CHECK(status_of(R"({"messages": "hi"})") == 400);
  CHECK(status_of(R"({"messages": [{"content": "hi"}]})") == 400);
  CHECK(status_of(body_with({{"max_tokens", -1}})) == 400);
  CHECK(status_of(body_with({{"max_tokens", 1.5}})) == 400);
  CHECK(status_of(body_with({{"top_p", 2}})) == 400);
  CHECK(status_of(body_with({{"stream", "yes"}})) == 400);
  CHECK(status_of(body_with({{"seed", "x"}})) == 400);
  CHECK(status_of(body_with({{"n", 3}})) == 400);
  CHECK(status_of(body_with({}, json::array({{{"type", "text"}, {"text", 5}}}))) == 400);
  CHECK(status_of(body_with({}, json::array({{{"type", "image_url"}, {"image_url", {{"uri", "x"}}}}}))) == 400);
  CHECK(status_of(body_with({}, "just text")) == 400);  // no image
  CHECK(status_of(body_with({{"n", 1}, {"max_tokens", nullptr}, {"user", "u"}})) == 200);  // nulls and unknown fields pass
}

TEST_CASE("server: response and chunk shapes", "[server]") {
  Completion c;
  c.id = "chatcmpl-1", c.model = "m", c.content = "a cat", c.finish_reason = "stop", c.created = 5;
  c.prompt_tokens = 1, c.completion_tokens = 3;
  const json full = completion_json(c);
  CHECK(full["object"] == "chat.completion");
  CHECK(full["choices"][0]["message"] == json({{"role", "assistant"}, {"content", "a cat"}}));
  CHECK(full["usage"]["total_tokens"] == 4);
  const json first = chunk_json(c, std::string(), true, false);
  CHECK(first["choices"][0]["delta"]["role"] == "assistant");
  CHECK(first["choices"][0]["finish_reason"].is_null());
  const json last = chunk_json(c, std::nullopt, false, true);
  CHECK(last["choices"][0]["delta"] == json::object());
  CHECK(last["choices"][0]["finish_reason"] == "stop");
  CHECK(usage_chunk_json(c)["choices"].empty());
  const json err = error_body(ApiError(413, "invalid_request_error", "too big", "request_too_large"));
  CHECK(err["error"]["message"] == "too big");
  CHECK(err["error"]["param"].is_null());
}

TEST_CASE("server: UTF-8 deltas never split a character", "[server]") {
  CHECK(utf8_complete_prefix("") == 0);
  CHECK(utf8_complete_prefix("abc") == 3);
  CHECK(utf8_complete_prefix("caf\xC3\xA9") == 5);
  CHECK(utf8_complete_prefix("caf\xC3") == 3);
  CHECK(utf8_complete_prefix("x\xE2\x82") == 1);         // € cut after 2 of 3 bytes
  CHECK(utf8_complete_prefix("x\xE2\x82\xAC") == 4);
  CHECK(utf8_complete_prefix("x\xF0\x9F\x98") == 1);     // an emoji cut after 3 of 4
  CHECK(utf8_complete_prefix("x\xF0\x9F\x98\x80") == 5);
  // a trailing replacement character may still become a real one: held back
  CHECK(stream_stable_prefix("a \xEF\xBF\xBD") == 2);
  CHECK(stream_stable_prefix("a \xEF\xBF\xBD\xEF\xBF\xBD") == 2);
  CHECK(stream_stable_prefix("a \xEF\xBF\xBD b") == 7);
  CHECK(stream_stable_prefix("caf\xC3") == 3);
}

TEST_CASE("server: base64 and data URIs", "[server]") {
  std::string out;
  CHECK((base64_decode("aGVsbG8=", out) && out == "hello"));
  CHECK((base64_decode("aGVsbG8", out) && out == "hello"));  // padding optional
  CHECK((base64_decode("", out) && out.empty()));
  CHECK(!base64_decode("aGVs bG8=", out));
  CHECK(!base64_decode("a", out));
  MediaPolicy policy;
  policy.max_bytes = 4;
  CHECK(image_source_resolve("data:image/png;base64,AQIDBA==", policy).bytes == std::string("\1\2\3\4"));
  auto status = [&](const std::string& url) { return resolve_status(url, policy); };
  CHECK(status("data:image/png;base64,AQIDBAU=") == 413);  // 5 bytes over a 4-byte limit
  CHECK(status("data:image/png;base64,") == 400);
  CHECK(status("data:image/png,abc") == 400);
  CHECK(status("data:image/png;base64") == 400);
  CHECK(status("http://127.0.0.1:1/x.png") == 400);  // remote refused by default
  CHECK(status("file:///etc/hostname") == 400);      // no --media-path: file:// refused
  CHECK(status("gopher://x") == 400);
}

TEST_CASE("server: file URLs stay inside the media root", "[server]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("glimpse-media-" + std::to_string(::getpid()));
  fs::create_directories(root / "sub");
  std::ofstream(root / "sub" / "a b.png") << "png";
  MediaPolicy policy;
  policy.media_root = fs::canonical(root).string();
  policy.max_bytes = 100;
  const std::string base = "file://" + policy.media_root;
  CHECK(image_source_resolve(base + "/sub/a%20b.png", policy).path == policy.media_root + "/sub/a b.png");
  CHECK(image_source_resolve("file://localhost" + policy.media_root + "/sub/../sub/a%20b.png", policy).path ==
        policy.media_root + "/sub/a b.png");
  auto status = [&](const std::string& url) { return resolve_status(url, policy); };
  CHECK(status(base + "/../x.png") == 403);
  CHECK(status(base + "x/y.png") == 403);  // a sibling whose name starts like the root
  CHECK(status(base + "/sub") == 400);     // a folder
  CHECK(status(base + "/sub/%zz") == 400);
  CHECK(status(base + "/sub/a%00.png") == 400);
  fs::remove_all(root);
}
