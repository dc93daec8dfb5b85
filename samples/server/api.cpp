#include "api.hpp"

#include <cctype>
#include <cmath>
#include <string_view>

namespace glimpse::server {

using nlohmann::json;

ApiError bad_request(const std::string& message, const std::string& param) {
  return ApiError(400, "invalid_request_error", message, {}, param);
}

json error_body(const ApiError& e) {
  return {{"error",
           {{"message", e.what()},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

namespace {

uint32_t positive_int(const json& v, const char* name, uint32_t max) {
  if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > int64_t(max))
    throw bad_request(std::string(name) + " must be an integer from 1 to " + std::to_string(max), name);
  return uint32_t(v.get<int64_t>());
}

float number_in(const json& v, const char* name, double lo, double hi) {
  if (!v.is_number() || !(v.get<double>() >= lo && v.get<double>() <= hi))
    throw bad_request(std::string(name) + " must be a number from " + json(lo).dump() + " to " + json(hi).dump(), name);
  return v.get<float>();
}

// A message's content: a string, or an array of parts ({"type":"text","text":…},
// {"type":"image_url","image_url":{"url":…}} or "image_url": "…").
void read_content(const json& content, ChatRequest& r) {
  if (content.is_string()) {
    r.text = content.get<std::string>();
    return;
  }
  if (!content.is_array()) throw bad_request("messages[].content must be a string or an array of parts", "messages");
  int images = 0;
  for (const json& part : content) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      throw bad_request("each content part needs a \"type\"", "messages");
    const std::string type = part["type"].get<std::string>();
    if (type == "text") {
      if (!part.contains("text") || !part["text"].is_string())
        throw bad_request("a text part needs a string \"text\"", "messages");
      if (!r.text.empty()) r.text += " ";
      r.text += part["text"].get<std::string>();
    } else if (type == "image_url") {
      const json* url = nullptr;
      if (part.contains("image_url") && part["image_url"].is_string()) url = &part["image_url"];
      else if (part.contains("image_url") && part["image_url"].is_object() && part["image_url"].contains("url") &&
               part["image_url"]["url"].is_string())
        url = &part["image_url"]["url"];
      if (!url) throw bad_request("an image_url part needs {\"image_url\": {\"url\": \"...\"}}", "messages");
      if (++images > 1) throw bad_request("one image per request: these models see a single image", "messages");
      r.image_url = url->get<std::string>();
    } else {
      throw bad_request("unsupported content part type \"" + type + "\" (text and image_url are)", "messages");
    }
  }
}

}  // namespace

void json_budget_check(std::string_view body, const JsonBudget& budget) {
  // One pass over the text, strings skipped: nesting depth and the number of values, so that a
  // body of 26 MB of '[' or of ',0' is refused before nlohmann builds millions of nodes (a ~1 GB
  // peak each before). Malformed JSON passes through here for the parser to name.
  size_t depth = 0, values = 0;
  bool in_string = false, escaped = false, in_scalar = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    const bool scalar_char = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.';
    if (scalar_char && !in_scalar) ++values;
    in_scalar = scalar_char;
    if (c == '"') {
      in_string = true;
      ++values;
    } else if (c == '[' || c == '{') {
      ++values;
      if (++depth > budget.max_depth)
        throw bad_request("the request body nests JSON deeper than " + std::to_string(budget.max_depth) + " levels");
    } else if (c == ']' || c == '}') {
      if (depth) --depth;
    }
    if (values > budget.max_values)
      throw bad_request("the request body holds more than " + std::to_string(budget.max_values) + " JSON values");
  }
}

ChatRequest chat_request_parse(const std::string& body) {
  json_budget_check(body, JsonBudget{});
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) throw bad_request("the request body is not valid JSON");
  if (!j.is_object()) throw bad_request("the request body must be a JSON object");
  ChatRequest r;
  if (j.contains("model") && !j["model"].is_null()) {
    if (!j["model"].is_string()) throw bad_request("model must be a string", "model");
    r.model = j["model"].get<std::string>();
  }
  if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty())
    throw bad_request("messages must be a non-empty array", "messages");
  // The image and the prompt or question come from the last user message; earlier turns and
  // system messages do not reach these models (they take one image and one text).
  const json* user = nullptr;
  for (const json& m : j["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      throw bad_request("each message needs a string \"role\"", "messages");
    if (m["role"] == "user") user = &m;
  }
  if (!user) throw bad_request("no user message", "messages");
  if (!user->contains("content")) throw bad_request("the user message has no content", "messages");
  read_content((*user)["content"], r);
  if (r.image_url.empty()) throw bad_request("the user message needs an image_url part", "messages");

  auto get = [&](const char* k) -> const json* {
    return j.contains(k) && !j[k].is_null() ? &j[k] : nullptr;
  };
  if (const json* v = get("max_completion_tokens")) r.max_tokens = positive_int(*v, "max_completion_tokens", 4096);
  else if (const json* w = get("max_tokens")) r.max_tokens = positive_int(*w, "max_tokens", 4096);
  if (const json* v = get("temperature")) r.temperature = number_in(*v, "temperature", 0, 2);
  if (const json* v = get("top_p")) r.top_p = number_in(*v, "top_p", 0, 1);
  if (const json* v = get("top_k")) r.top_k = positive_int(*v, "top_k", 1u << 20);
  if (const json* v = get("seed")) {
    if (!v->is_number_integer()) throw bad_request("seed must be an integer", "seed");
    r.seed = v->is_number_unsigned() ? v->get<uint64_t>() : uint64_t(v->get<int64_t>());
  }
  if (const json* v = get("n")) {
    if (!v->is_number_integer() || v->get<int64_t>() != 1) throw bad_request("n must be 1", "n");
  }
  if (const json* v = get("stream")) {
    if (!v->is_boolean()) throw bad_request("stream must be true or false", "stream");
    r.stream = v->get<bool>();
  }
  if (const json* v = get("stream_options")) {
    if (!v->is_object()) throw bad_request("stream_options must be an object", "stream_options");
    if (v->contains("include_usage")) {
      if (!(*v)["include_usage"].is_boolean())
        throw bad_request("stream_options.include_usage must be true or false", "stream_options");
      r.include_usage = (*v)["include_usage"].get<bool>();
    }
  }
  return r;
}

namespace {

json usage_json(const Completion& c) {
  return {{"prompt_tokens", c.prompt_tokens},
          {"completion_tokens", c.completion_tokens},
          {"total_tokens", c.prompt_tokens + c.completion_tokens}};
}

}  // namespace

json completion_json(const Completion& c) {
  return {{"id", c.id},
          {"object", "chat.completion"},
          {"created", c.created},
          {"model", c.model},
          {"choices",
           json::array({{{"index", 0},
                         {"message", {{"role", "assistant"}, {"content", c.content}}},
                         {"logprobs", nullptr},
                         {"finish_reason", c.finish_reason}}})},
          {"usage", usage_json(c)}};
}

json chunk_json(const Completion& c, const std::optional<std::string>& content, bool first, bool last) {
  json delta = json::object();
  if (first) delta["role"] = "assistant";
  if (content) delta["content"] = *content;
  return {{"id", c.id},
          {"object", "chat.completion.chunk"},
          {"created", c.created},
          {"model", c.model},
          {"choices", json::array({{{"index", 0},
                                    {"delta", delta},
                                    {"logprobs", nullptr},
                                    {"finish_reason", last ? json(c.finish_reason) : json(nullptr)}}})}};
}

json usage_chunk_json(const Completion& c) {
  return {{"id", c.id},          {"object", "chat.completion.chunk"}, {"created", c.created},
          {"model", c.model},    {"choices", json::array()},          {"usage", usage_json(c)}};
}

size_t utf8_complete_prefix(const std::string& s) {
  size_t n = s.size(), i = n;
  // Walk back over continuation bytes to the last lead byte; keep it only if its sequence is whole.
  while (i > 0 && (uint8_t(s[i - 1]) & 0xC0) == 0x80 && n - i < 3) --i;
  if (i == 0) return n;
  const uint8_t lead = uint8_t(s[i - 1]);
  const size_t need = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
  return (n - (i - 1)) >= need ? n : i - 1;
}

size_t stream_stable_prefix(const std::string& s) {
  static const std::string kReplacement = "\xEF\xBF\xBD";
  size_t n = utf8_complete_prefix(s);
  while (n >= 3 && s.compare(n - 3, 3, kReplacement) == 0) n -= 3;
  return n;
}

}  // namespace glimpse::server
