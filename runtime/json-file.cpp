#include "runtime/json-file.hpp"

#include "runtime/error.hpp"

#include <fstream>

namespace glimpse {

nlohmann::json json_load(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not valid JSON: ", e.what());
  }
}

}  // namespace glimpse
