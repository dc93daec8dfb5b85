// Reading the JSON files a model folder holds (config.json, preprocessor_config.json,
// tokenizer.json, safetensors indexes), with errors that name the file.
#pragma once

#include "runtime/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace glimpse {

// Parses `path`; throws Error "PATH: cannot open" or "PATH: not valid JSON: ...".
nlohmann::json json_load(const std::string& path);

// A non-negative integer (an id, a count); anything else (a float like 4e75, whose conversion
// would be undefined, a string, a negative number) is an Error naming `what` in `path`.
inline uint64_t json_uint(const nlohmann::json& v, const std::string& path, const std::string& what) {
  if (!v.is_number_unsigned()) fail(path, ": ", what, " must be a non-negative integer, found ", v.dump());
  return v.get<uint64_t>();
}

// An integer within int's range, the same way.
inline int json_int(const nlohmann::json& v, const std::string& path, const std::string& what) {
  const bool fits = v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(INT32_MAX)
                    : v.is_number_integer() ? v.get<int64_t>() >= INT32_MIN && v.get<int64_t>() <= INT32_MAX
                                            : false;
  if (!fits) fail(path, ": ", what, " must be an integer, found ", v.dump());
  return int(v.get<int64_t>());
}

// Member `key` of `j`, or nullptr when `j` is no object or the member is absent or null.
const nlohmann::json* json_member(const nlohmann::json& j, const char* key);

// Overlays field `key` of the object `j` on `value` when it is there (null counts as absent), so that
// a config's class defaults stay for the fields a compact Hub config leaves out. A wrong type or a
// value out of range is an Error naming `where` (the file and section) and the key.
void json_field(const nlohmann::json& j, const char* key, int& value, const std::string& where, int lo = 1,
                int hi = 1 << 24);
void json_field(const nlohmann::json& j, const char* key, bool& value, const std::string& where);
void json_field(const nlohmann::json& j, const char* key, std::string& value, const std::string& where);
// A layer-norm epsilon: a number strictly between 0 and 1.
void json_eps_field(const nlohmann::json& j, const char* key, float& value, const std::string& where);
// The object `key` of `j`, or an empty one when absent.
nlohmann::json json_object_field(const nlohmann::json& j, const char* key, const std::string& where);

// Runs `read` (which interprets JSON from `path`) and turns the JSON library's own exceptions, e.g.
// a field of the wrong type ("model_type": 5), into an Error naming the file (found by fuzzing).
template <typename Read>
auto json_read(const std::string& path, Read&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": unexpected layout: ", e.what());
  }
}

}  // namespace glimpse
