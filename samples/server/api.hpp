// The OpenAI chat-completions surface of glimpse-server: reading a request body into what one
// glimpse call needs, and writing responses, stream chunks and errors in OpenAI's shapes.
// Pure functions over JSON, so they are tested without a socket.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace glimpse::server {

// A failure that becomes an HTTP status and an OpenAI error object:
// {"error": {"message", "type", "param", "code"}}.
struct ApiError : std::runtime_error {
  ApiError(int status_, std::string type_, const std::string& message, std::string code_ = {}, std::string param_ = {})
      : std::runtime_error(message), status(status_), type(std::move(type_)), code(std::move(code_)),
        param(std::move(param_)) {}
  int status;
  std::string type, code, param;
};

ApiError bad_request(const std::string& message, const std::string& param = {});
nlohmann::json error_body(const ApiError& e);

struct ChatRequest {
  std::string model;      // as sent ("" when absent)
  std::string text;       // the last user message's text parts, joined by spaces
  std::string image_url;  // its one image_url part
  std::optional<uint32_t> max_tokens;
  std::optional<float> temperature, top_p;
  std::optional<uint32_t> top_k;
  std::optional<uint64_t> seed;
  bool stream = false, include_usage = false;
};

// What a request body's JSON may hold: chat requests are a few dozen values a few levels deep
// (the image travels as one string).
struct JsonBudget {
  size_t max_depth = 32;
  size_t max_values = 10000;
};
// Throws ApiError (400) when `body` nests deeper or holds more values than the budget allows;
// a linear scan that allocates nothing, run before the JSON is parsed.
void json_budget_check(std::string_view body, const JsonBudget& budget);

// Reads a POST /v1/chat/completions body; throws ApiError (400) naming the offending field.
ChatRequest chat_request_parse(const std::string& body);

struct Completion {
  std::string id, model, content, finish_reason;  // finish_reason: "stop" or "length"
  int64_t created = 0;
  uint32_t prompt_tokens = 0, completion_tokens = 0;
};

nlohmann::json completion_json(const Completion& c);
// One server-sent event's JSON: a delta (role and/or content), the final one with finish_reason,
// or (include_usage) the usage chunk with empty choices.
nlohmann::json chunk_json(const Completion& c, const std::optional<std::string>& content, bool first, bool last);
nlohmann::json usage_chunk_json(const Completion& c);

// The longest prefix of `s` that does not end inside a UTF-8 sequence (streamed deltas never
// split a character).
size_t utf8_complete_prefix(const std::string& s);
// What of a growing text may be streamed now: whole characters, less any trailing U+FFFD, which
// is how a decoder shows bytes of a character still to come (byte-level BPE) and may yet change.
size_t stream_stable_prefix(const std::string& s);

}  // namespace glimpse::server
