#include "vision/vit-config.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"

namespace glimpse {

VitConfig vit_config_defaults() { return VitConfig{}; }

VitConfig blip_vision_config_defaults() {
  VitConfig c;
  c.image_size = 384;
  c.eps = 1e-5f;
  return c;
}

VitConfig vit_config_parse(const nlohmann::json& j, const std::string& where, VitConfig c) {
  json_field(j, "hidden_size", c.hidden, where);
  json_field(j, "intermediate_size", c.intermediate, where);
  json_field(j, "num_hidden_layers", c.layers, where, 1, 256);
  json_field(j, "num_attention_heads", c.heads, where, 1, 1024);
  json_field(j, "image_size", c.image_size, where, 1, 8192);
  json_field(j, "patch_size", c.patch, where, 1, 1024);
  json_field(j, "num_channels", c.channels, where, 3, 3);
  json_eps_field(j, "layer_norm_eps", c.eps, where);
  json_field(j, "qkv_bias", c.qkv_bias, where);
  std::string act = "gelu";
  json_field(j, "hidden_act", act, where);
  c.act = activation_parse(act, where + " hidden_act");
  attention_heads_check(c.hidden, c.heads, where);
  if (c.image_size % c.patch)
    fail(where, ": image_size ", c.image_size, " is not a multiple of patch_size ", c.patch);
  return c;
}

}  // namespace glimpse
