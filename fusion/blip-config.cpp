#include "fusion/blip-config.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace glimpse {

using json = nlohmann::json;

static BlipConfig blip_config_read(const std::string& path);

BlipConfig blip_config_load(const std::string& path) {
  return json_read(path, [&] { return blip_config_read(path); });
}

static BlipConfig blip_config_read(const std::string& path) {
  const json j = json_load(path);
  if (!j.is_object()) fail(path, ": not a JSON object");
  BlipConfig c;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty())
    c.architecture = j["architectures"][0].get<std::string>();
  const std::string model_type = j.value("model_type", "");
  if (model_type != "blip") fail(path, ": model_type '", model_type, "' is not 'blip'");

  c.vision = vit_config_parse(json_object_field(j, "vision_config", path), path + " vision_config",
                              blip_vision_config_defaults());
  c.text = blip_text_config_parse(json_object_field(j, "text_config", path), path + " text_config");
  json_field(j, "max_length", c.max_length, path, 1, c.text.max_positions);
  return c;
}

BlipFolder blip_folder_open(const std::string& dir, const std::string& architecture) {
  namespace fs = std::filesystem;
  const fs::path d(dir);
  if (!fs::is_directory(d)) fail(dir, ": not a model folder");
  BlipFolder f;
  f.config = blip_config_load((d / "config.json").string());
  if (!f.config.architecture.empty() && f.config.architecture != architecture)
    fail(dir, ": architecture ", f.config.architecture, " is not ", architecture);
  f.preprocessor = image_processor_load((d / "preprocessor_config.json").string());
  if (f.preprocessor.width != f.config.vision.image_size || f.preprocessor.height != f.config.vision.image_size)
    fail(dir, ": preprocessor size ", f.preprocessor.width, "x", f.preprocessor.height,
         " does not match the vision image_size ", f.config.vision.image_size);
  f.tokenizer = std::make_unique<WordPiece>(fs::exists(d / "tokenizer.json")
                                                ? WordPiece::from_tokenizer_json((d / "tokenizer.json").string())
                                                : WordPiece::from_vocab_txt((d / "vocab.txt").string()));
  return f;
}

}  // namespace glimpse
