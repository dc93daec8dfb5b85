#include "runtime/json-file.hpp"

#include "runtime/error.hpp"
#include "runtime/file.hpp"

#include <fstream>

namespace glimpse {

nlohmann::json json_load(const std::string& path) {
  const std::string text = file_read(path, kMaxJsonFileBytes, "a JSON file");
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not valid JSON: ", e.what());
  }
}

void json_field(const nlohmann::json& j, const char* key, int& value, const std::string& where, int lo, int hi) {
  if (!j.contains(key) || j[key].is_null()) return;
  if (!j[key].is_number_integer()) fail(where, ": ", key, " must be an integer, found ", j[key].dump());
  const int64_t v = j[key].get<int64_t>();
  if (v < lo || v > hi) fail(where, ": ", key, " = ", v, " is out of range [", lo, ", ", hi, "]");
  value = int(v);
}

void json_field(const nlohmann::json& j, const char* key, bool& value, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return;
  if (!j[key].is_boolean()) fail(where, ": ", key, " must be true or false, found ", j[key].dump());
  value = j[key].get<bool>();
}

void json_field(const nlohmann::json& j, const char* key, std::string& value, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return;
  if (!j[key].is_string()) fail(where, ": ", key, " must be a string, found ", j[key].dump());
  value = j[key].get<std::string>();
}

void json_eps_field(const nlohmann::json& j, const char* key, float& value, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return;
  if (!j[key].is_number()) fail(where, ": ", key, " must be a number, found ", j[key].dump());
  value = j[key].get<float>();
  if (!(value > 0 && value < 1)) fail(where, ": ", key, " = ", value, " is not a usable epsilon");
}

nlohmann::json json_object_field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return nlohmann::json::object();
  if (!j[key].is_object()) fail(where, ": ", key, " must be an object, found ", j[key].dump());
  return j[key];
}

}  // namespace glimpse
