#include "text/blip-text-config.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"
#include "runtime/ops.hpp"

namespace glimpse {

BlipTextConfig blip_text_config_parse(const nlohmann::json& j, const std::string& where) {
  BlipTextConfig c;
  json_field(j, "vocab_size", c.vocab, where);
  json_field(j, "hidden_size", c.hidden, where);
  json_field(j, "encoder_hidden_size", c.encoder_hidden, where);
  json_field(j, "intermediate_size", c.intermediate, where);
  json_field(j, "num_hidden_layers", c.layers, where, 1, 256);
  json_field(j, "num_attention_heads", c.heads, where, 1, 1024);
  json_field(j, "max_position_embeddings", c.max_positions, where, 2, 1 << 20);
  json_eps_field(j, "layer_norm_eps", c.eps, where);
  json_field(j, "bos_token_id", c.bos, where, 0);
  json_field(j, "sep_token_id", c.sep, where, 0);
  json_field(j, "pad_token_id", c.pad, where, 0);
  json_field(j, "eos_token_id", c.eos, where, 0);
  std::string act = "gelu";
  json_field(j, "hidden_act", act, where);
  if (act != "gelu") fail(where, ": hidden_act \"", act, "\" is not supported (BLIP uses \"gelu\")");
  attention_heads_check(c.hidden, c.heads, where);
  for (auto [name, id] : {std::pair{"bos_token_id", c.bos}, {"sep_token_id", c.sep}, {"pad_token_id", c.pad}})
    if (id >= c.vocab) fail(where, ": ", name, " ", id, " is outside the vocabulary (vocab_size ", c.vocab, ")");
  return c;
}

}  // namespace glimpse
