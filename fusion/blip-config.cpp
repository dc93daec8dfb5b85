#include "fusion/blip-config.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"

#include <nlohmann/json.hpp>

namespace glimpse {

using json = nlohmann::json;

BlipConfig blip_config_load(const std::string& path) {
  const json j = json_load(path);
  return json_read(path, [&] { return blip_config_parse(j, path); });
}

BlipConfig blip_config_parse(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) fail(path, ": not a JSON object");
  config_architecture(j, path);  // checked; blip_folder_open compares it
  BlipConfig c;
  const std::string model_type = j.value("model_type", "");
  if (model_type != "blip") fail(path, ": model_type '", model_type, "' is not 'blip'");

  c.vision = vit_config_parse(json_object_field(j, "vision_config", path), path + " vision_config",
                              blip_vision_config_defaults());
  c.text = blip_text_config_parse(json_object_field(j, "text_config", path), path + " text_config");
  return c;
}

BlipFolder blip_folder_open(const ModelFolder& folder, const std::string& architecture) {
  if (!folder.architecture().empty() && folder.architecture() != architecture)
    fail(ErrorCode::WrongTask, folder.dir(), ": architecture ", folder.architecture(), " is not ", architecture);
  BlipFolder f;
  f.config = json_read(folder.config_path(), [&] { return blip_config_parse(folder.config(), folder.config_path()); });
  f.config.max_length = folder.max_length(f.config.max_length, f.config.text.max_positions);
  f.preprocessor = folder.preprocessor(f.config.vision.image_size);
  f.tokenizer = std::make_unique<WordPiece>(folder.has("tokenizer.json")
                                                ? WordPiece::from_tokenizer_json(folder.path("tokenizer.json"))
                                                : WordPiece::from_vocab_txt(folder.path("vocab.txt")));
  return f;
}

ModelInfo blip_model_info(const BlipConfig& c, const char* family, const char* architecture, Task task,
                          const ModelOptions& opt) {
  ModelInfo i;
  i.family = family;
  i.architecture = architecture;
  i.task = task;
  i.image_size = c.vision.image_size;
  i.vision_hidden = c.vision.hidden, i.vision_layers = c.vision.layers;
  i.text_hidden = c.text.hidden, i.text_layers = c.text.layers, i.vocab = c.text.vocab;
  i.eos = uint32_t(c.text.sep);  // BLIP's decoders stop at [SEP] (docs/models/blip.md)
  i.max_length = c.max_length;
  i.weights = opt.weights;
  return i;
}

}  // namespace glimpse
