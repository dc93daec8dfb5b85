// BLIP's text model configuration (BlipTextConfig): the BERT that BLIP uses as its caption and
// answer decoder and as its VQA question encoder.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace glimpse {

// configuration_blip.py's BlipTextConfig defaults. Hub configs are often compact, and a wrong
// fallback loads fine and captions garbage: the text heads default to 8 there, and the published
// checkpoints say 12 (docs/models/blip.md).
struct BlipTextConfig {
  int vocab = 30524, hidden = 768, encoder_hidden = 768, intermediate = 3072, layers = 12, heads = 8, max_positions = 512;
  float eps = 1e-12f;
  int bos = 30522, sep = 102, pad = 0, eos = 2;
};

// Overlays `j` (a BLIP config.json's text_config) on the defaults and checks it; errors name `where`.
BlipTextConfig blip_text_config_parse(const nlohmann::json& j, const std::string& where);

}  // namespace glimpse
