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

const nlohmann::json* json_member(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

void json_field(const nlohmann::json& j, const char* key, int& value, const std::string& where, int lo, int hi) {
  const nlohmann::json* v = json_member(j, key);
  if (!v) return;
  const int i = json_int(*v, where, key);
  if (i < lo || i > hi) fail(where, ": ", key, " = ", i, " is out of range [", lo, ", ", hi, "]");
  value = i;
}

void json_field(const nlohmann::json& j, const char* key, bool& value, const std::string& where) {
  const nlohmann::json* v = json_member(j, key);
  if (!v) return;
  if (!v->is_boolean()) fail(where, ": ", key, " must be true or false, found ", v->dump());
  value = v->get<bool>();
}

void json_field(const nlohmann::json& j, const char* key, std::string& value, const std::string& where) {
  const nlohmann::json* v = json_member(j, key);
  if (!v) return;
  if (!v->is_string()) fail(where, ": ", key, " must be a string, found ", v->dump());
  value = v->get<std::string>();
}

void json_eps_field(const nlohmann::json& j, const char* key, float& value, const std::string& where) {
  const nlohmann::json* v = json_member(j, key);
  if (!v) return;
  if (!v->is_number()) fail(where, ": ", key, " must be a number, found ", v->dump());
  value = v->get<float>();
  if (!(value > 0 && value < 1)) fail(where, ": ", key, " = ", value, " is not a usable epsilon");
}

nlohmann::json json_object_field(const nlohmann::json& j, const char* key, const std::string& where) {
  const nlohmann::json* v = json_member(j, key);
  if (!v) return nlohmann::json::object();
  if (!v->is_object()) fail(where, ": ", key, " must be an object, found ", v->dump());
  return *v;
}

}  // namespace glimpse
