// BLIP configuration: config.json overlaid on configuration_blip.py's class defaults, because
// Hub configs are often compact (model-spec.md §2.1: text heads default to 8, the checkpoints
// need 12 — a wrong fallback loads fine and captions garbage).
#pragma once

#include "text/wordpiece.hpp"
#include "vision/preprocess.hpp"

#include <memory>
#include <string>

namespace glimpse {

struct BlipVisionConfig {
  int hidden = 768, intermediate = 3072, layers = 12, heads = 12, image_size = 384, patch = 16;
  float eps = 1e-5f;
  int tokens() const { return (image_size / patch) * (image_size / patch) + 1; }
};

struct BlipTextConfig {
  int vocab = 30524, hidden = 768, encoder_hidden = 768, intermediate = 3072, layers = 12, heads = 8, max_positions = 512;
  float eps = 1e-12f;
  int bos = 30522, sep = 102, pad = 0, eos = 2;
};

struct BlipConfig {
  std::string architecture;  // BlipForConditionalGeneration
  BlipVisionConfig vision;
  BlipTextConfig text;
  int max_length = 20;  // generation default (PretrainedConfig), counts the prompt
};

// Reads and validates `path` (config.json). Errors name the file, the field and the problem.
BlipConfig blip_config_load(const std::string& path);

// What a BLIP model folder holds besides the weights: config, image processor, tokenizer.
struct BlipFolder {
  BlipConfig config;
  ImageProcessorConfig preprocessor;
  std::unique_ptr<WordPiece> tokenizer;
};
// Opens `dir`, checking its architecture is `architecture` (when the config names one).
BlipFolder blip_folder_open(const std::string& dir, const std::string& architecture);

}  // namespace glimpse
