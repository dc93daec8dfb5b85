// The configuration of a ViT-style vision encoder, whichever checkpoint family it comes from:
// BLIP's vision_config (BlipVisionConfig), Hugging Face's ViTConfig and DeiTConfig (the encoder of
// a VisionEncoderDecoderModel). They share field names; only the class defaults differ.
#pragma once

#include "runtime/ops.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace glimpse {

struct VitConfig {
  int hidden = 768, intermediate = 3072, layers = 12, heads = 12;
  int image_size = 224, patch = 16, channels = 3;
  float eps = 1e-12f;
  bool qkv_bias = true;   // ViTConfig.qkv_bias: TrOCR's base/large encoders have none
  int prefix_tokens = 1;  // before the patches: the class token, plus DeiT's distillation token
  Activation act = Activation::GeluErf;

  int grid() const { return image_size / patch; }
  int tokens() const { return grid() * grid() + prefix_tokens; }
};

// configuration_vit.py's ViTConfig defaults (224 px, eps 1e-12) and configuration_blip.py's
// BlipVisionConfig defaults (384 px, eps 1e-5).
VitConfig vit_config_defaults();
VitConfig blip_vision_config_defaults();

// Overlays the fields of `j` (hidden_size, intermediate_size, num_hidden_layers,
// num_attention_heads, image_size, patch_size, num_channels, layer_norm_eps, hidden_act,
// qkv_bias) on `defaults` and checks that glimpse runs the result. Errors name `where`.
VitConfig vit_config_parse(const nlohmann::json& j, const std::string& where, VitConfig defaults);

}  // namespace glimpse
