// Reading the JSON files a model folder holds (config.json, preprocessor_config.json,
// tokenizer.json, safetensors indexes), with errors that name the file.
#pragma once

#include "runtime/error.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace glimpse {

// Parses `path`; throws Error "PATH: cannot open" or "PATH: not valid JSON: ...".
nlohmann::json json_load(const std::string& path);

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
