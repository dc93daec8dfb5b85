// GPT-2's configuration (GPT2Config) as the decoder of a VisionEncoderDecoderModel.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace glimpse {

struct Gpt2Config {
  int vocab = 50257, hidden = 768, layers = 12, heads = 12, inner = 0 /* 0: 4 x hidden */, positions = 1024;
  float eps = 1e-5f;
  int encoder_hidden = 768;  // width of the states cross-attention reads
  int eos = 50256, pad = 50256;
  int bos = 50256;
};

// Overlays `j` (the decoder section of a VisionEncoderDecoder config.json) on GPT2Config's
// defaults and checks it: gelu_new MLPs and cross-attention. encoder_hidden is the caller's.
Gpt2Config gpt2_config_parse(const nlohmann::json& j, const std::string& where);

}  // namespace glimpse
