// glimpse-server's request reading, response shapes and image sources, without a socket
// (tests/server/ drives the running server).
#include "samples/server/api.hpp"
#include "samples/server/fetch.hpp"
#include "samples/server/http.hpp"
#include "samples/server/media.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
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

namespace {

// Feeds `text` to a parser in pieces of `step` bytes, as reads would deliver it.
struct Fed {
  http::RequestParser::Progress last = http::RequestParser::Progress::NeedMore;
  bool head_seen = false;
  http::Request req;
  std::string rest;  // bytes after the request
  size_t fed = 0;    // bytes given before the parser stopped
};

Fed feed(const std::string& text, size_t step, const http::Limits& limits = {}) {
  http::RequestParser p(limits);
  Fed f;
  std::string buf;
  for (size_t at = 0;; at += step) {
    if (at < text.size()) buf.append(text, at, step);
    f.fed = std::min(text.size(), at + step);
    for (;;) {
      f.last = p.advance(buf);
      if (f.last == http::RequestParser::Progress::HeadReady) {
        f.head_seen = true;
        continue;
      }
      break;
    }
    if (f.last != http::RequestParser::Progress::NeedMore || at >= text.size()) break;
  }
  if (f.last == http::RequestParser::Progress::Complete) {
    f.req = p.request();
    f.rest = buf.substr(p.consumed()) + text.substr(f.fed);  // what later reads would add
  } else if (f.last == http::RequestParser::Progress::Failed) {
    f.req.body = p.error_message();
    f.req.minor_version = p.error_status();
  }
  return f;
}

sockaddr_storage addr(const char* text) {
  sockaddr_storage ss{};
  if (std::strchr(text, ':')) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    REQUIRE(inet_pton(AF_INET6, text, &a->sin6_addr) == 1);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    REQUIRE(inet_pton(AF_INET, text, &a->sin_addr) == 1);
  }
  return ss;
}

}  // namespace

TEST_CASE("server: HTTP requests parse the same however the bytes arrive", "[server]") {
  using P = http::RequestParser::Progress;
  const std::string body = R"({"messages": []})";
  const std::string plain = "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: localhost:8080\r\nContent-Type:  application/json \r\n"
                            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body + "GET /health HTTP/1.1\r\n";
  // The same body in three chunks, with an extension and a trailer.
  const std::string chunked = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
                              "5;name=value\r\n" + body.substr(0, 5) + "\r\n" + "A\r\n" + body.substr(5, 10) + "\r\n" +
                              "1\r\n" + body.substr(15) + "\r\n0\r\nX-Trailer: 1\r\n\r\n";
  for (size_t step : {size_t(1), size_t(2), size_t(7), size_t(64), size_t(100000)}) {
    INFO("step " << step);
    Fed f = feed(plain, step);
    REQUIRE(f.last == P::Complete);
    CHECK(f.head_seen);
    CHECK((f.req.method == "POST" && f.req.path == "/v1/chat/completions" && f.req.query == "x=1"));
    CHECK(f.req.header("content-type") == "application/json");
    CHECK(f.req.body == body);
    CHECK(f.req.keep_alive);
    CHECK(f.rest.rfind("GET /health", 0) == 0);  // the pipelined request stays for the next parse
    f = feed(chunked, step);
    REQUIRE(f.last == P::Complete);
    CHECK(f.req.body == body);
    CHECK(f.req.expect_continue);
  }
  // HTTP/1.0 closes unless asked; 1.1 keeps alive unless asked.
  CHECK_FALSE(feed("GET / HTTP/1.0\r\n\r\n", 100).req.keep_alive);
  CHECK(feed("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 100).req.keep_alive);
  CHECK_FALSE(feed("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 100).req.keep_alive);
}

TEST_CASE("server: malformed and oversized HTTP requests are refused with the right status", "[server]") {
  using P = http::RequestParser::Progress;
  http::Limits small;
  small.max_body_bytes = 100;
  small.max_head_bytes = 256;
  small.max_headers = 4;
  auto status = [&](const std::string& text) {
    const Fed f = feed(text, 3, small);
    return f.last == P::Failed ? f.req.minor_version : f.last == P::Complete ? 200 : 0;
  };
  const std::string host = "Host: a\r\n";
  CHECK(status("GET /\r\n\r\n") == 400);
  CHECK(status("GET  / HTTP/1.1\r\n" + host + "\r\n") == 400);
  CHECK(status("GET http://a/ HTTP/1.1\r\n" + host + "\r\n") == 400);
  CHECK(status("GET / HTTP/2.0\r\n" + host + "\r\n") == 505);
  CHECK(status("GET / HTTP/1.1\r\n\r\n") == 400);                          // no Host
  CHECK(status("GET / HTTP/1.1\r\n" + host + host + "\r\n") == 400);       // two
  CHECK(status("GET / HTTP/1.1\r\n" + host + " folded\r\n\r\n") == 400);
  CHECK(status("GET / HTTP/1.1\r\n" + host + "Bad Name: x\r\n\r\n") == 400);
  CHECK(status("GET / HTTP/1.1\r\n" + host + "X: a\nb\r\n\r\n") == 400);  // bare LF
  CHECK(status("GET / HTTP/1.1\r\n" + host + "A: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n") == 431);
  CHECK(status("GET /" + std::string(300, 'a') + " HTTP/1.1\r\n" + host + "\r\n") == 431);
  CHECK(status("GET /" + std::string(300, 'a')) == 431);  // no end of head in sight: refused early
  // Body framing: conflicting or malformed lengths (request smuggling), unknown codings, limits.
  CHECK(status("POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd") == 400);
  CHECK(status("POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
  CHECK(status("POST / HTTP/1.1\r\n" + host + "Content-Length: -3\r\n\r\n") == 400);
  CHECK(status("POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\n\r\nabc") == 200);
  CHECK(status("POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n") == 501);
  CHECK(status("POST / HTTP/1.1\r\n" + host + "Expect: something\r\n\r\n") == 417);
  // Over the limit: a Content-Length is refused from the head, before any of the body.
  CHECK(status("POST / HTTP/1.1\r\n" + host + "Content-Length: 101\r\n\r\n") == 413);
  CHECK(status("POST / HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999\r\n\r\n") == 400);
  // A chunked body is counted as it arrives: refused at the chunk that crosses the limit, which
  // has not been sent yet (the chunk's size line is enough).
  const std::string chunked = "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n";
  CHECK(status(chunked + "40\r\n" + std::string(64, 'x') + "\r\n40\r\n") == 413);
  CHECK(status(chunked + "ffffffffffffffffffff\r\n") == 413);
  CHECK(status(chunked + "zz\r\n") == 400);
  CHECK(status(chunked + "-1\r\n") == 400);
  CHECK(status(chunked + "3\r\nabcX\r\n") == 400);
  CHECK(status(chunked + "3\r\nabc\r\n0\r\n\r\n") == 200);
}

TEST_CASE("server: JSON bodies are checked for depth and size before parsing", "[server]") {
  CHECK_THROWS_WITH(json_budget_check(std::string(100, '['), JsonBudget{}), Catch::Contains("deeper than 32 levels"));
  std::string many = "[0";
  for (int i = 0; i < 20000; ++i) many += ",0";
  many += "]";
  CHECK_THROWS_WITH(json_budget_check(many, JsonBudget{}), Catch::Contains("more than 10000 JSON values"));
  // Strings, escapes and brackets inside them count as one value.
  CHECK_NOTHROW(json_budget_check(R"({"a": "[[[[\"{{{{", "b": [1, -2.5e3, true, null]})", JsonBudget{2, 9}));  // keys count too
  CHECK_THROWS(json_budget_check(R"({"a": [[1]]})", JsonBudget{2, 100}));
  CHECK(status_of(std::string(10000, '[')) == 400);
  CHECK(status_of(body_with(json::object())) == 200);
}

TEST_CASE("server: remote URLs are fetched only from public addresses", "[server]") {
  for (const char* a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                        "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1", "::1", "::",
                        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:7f00:1::", "fe80::1",
                        "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1"}) {
    INFO(a);
    const sockaddr_storage ss = addr(a);
    CHECK_FALSE(address_is_public(reinterpret_cast<const sockaddr*>(&ss)));
  }
  for (const char* a : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "::ffff:8.8.8.8", "2606:4700::1111",
                        "2a00:1450:4001::200e"}) {
    INFO(a);
    const sockaddr_storage ss = addr(a);
    CHECK(address_is_public(reinterpret_cast<const sockaddr*>(&ss)));
  }
  const HttpUrl u = http_url_parse("http://[::1]:8080/a/b.png?x=1#frag");
  CHECK((u.host == "::1" && u.port == 8080 && u.path == "/a/b.png?x=1"));
  CHECK(http_url_parse("http://example.com").path == "/");
  CHECK_THROWS_WITH(http_url_parse("https://example.com/a.png"), Catch::Contains("no TLS"));
  CHECK_THROWS_WITH(http_url_parse("http://user:pw@example.com/"), Catch::Contains("user names or passwords"));
  CHECK_THROWS_WITH(http_url_parse("http://example.com:99999/"), Catch::Contains("malformed port"));
  CHECK_THROWS_WITH(http_url_parse("http://exa mple.com/"), Catch::Contains("host"));
  // Refused before any connection: the name resolves to loopback.
  FetchPolicy policy;
  policy.max_bytes = 1000;
  policy.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  try {
    http_fetch("http://localhost:1/x.png", policy);
    FAIL("fetched from loopback");
  } catch (const ApiError& e) {
    CHECK(e.status == 400);
    CHECK_THAT(e.what(), Catch::Contains("public addresses"));
  }
}
