// BLIP configuration: config.json overlaid on configuration_blip.py's class defaults, because
// Hub configs are often compact (docs/models/blip.md: text heads default to 8, the checkpoints
// need 12 — a wrong fallback loads fine and captions garbage).
#pragma once

#include "fusion/model-folder.hpp"
#include "fusion/model.hpp"
#include "text/blip-text-config.hpp"
#include "text/wordpiece.hpp"
#include "vision/preprocess.hpp"
#include "vision/vit-config.hpp"

#include <memory>
#include <string>

namespace glimpse {

struct BlipConfig {
  VitConfig vision = blip_vision_config_defaults();
  BlipTextConfig text;
  int max_length = 20;  // generation default (PretrainedConfig), counts the prompt; ModelFolder::max_length
};

// Interprets and validates config.json's contents `j` (read from `path`). Errors name the file,
// the field and the problem. blip_config_load reads the file first.
BlipConfig blip_config_parse(const nlohmann::json& j, const std::string& path);
BlipConfig blip_config_load(const std::string& path);

// What a BLIP model folder holds besides the weights: config, image processor, tokenizer.
struct BlipFolder {
  BlipConfig config;
  ImageProcessorConfig preprocessor;
  std::unique_ptr<WordPiece> tokenizer;
};
// Reads `folder`, checking its architecture is `architecture` (when the config names one).
BlipFolder blip_folder_open(const ModelFolder& folder, const std::string& architecture);

ModelInfo blip_model_info(const BlipConfig& c, const char* family, const char* architecture, Task task,
                          const ModelOptions& opt);

}  // namespace glimpse
