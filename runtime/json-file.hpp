// Reading the JSON files a model folder holds (config.json, preprocessor_config.json,
// tokenizer.json, safetensors indexes), with errors that name the file.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace glimpse {

// Parses `path`; throws Error "PATH: cannot open" or "PATH: not valid JSON: ...".
nlohmann::json json_load(const std::string& path);

}  // namespace glimpse
