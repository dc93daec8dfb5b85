#include "text/trocr-config.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"

namespace glimpse {

BartDecoderConfig trocr_config_parse(const nlohmann::json& j, const std::string& where) {
  BartDecoderConfig c;
  json_field(j, "vocab_size", c.vocab, where, 4, 1 << 24);
  json_field(j, "d_model", c.hidden, where, 1, 1 << 16);
  json_field(j, "decoder_layers", c.layers, where, 1, 256);
  json_field(j, "decoder_attention_heads", c.heads, where, 1, 1024);
  json_field(j, "decoder_ffn_dim", c.ffn, where, 1, 1 << 20);
  json_field(j, "max_position_embeddings", c.max_positions, where, 2, 1 << 20);
  json_field(j, "cross_attention_hidden_size", c.cross_hidden, where, 1, 1 << 16);  // null: absent
  std::string act = "gelu";
  json_field(j, "activation_function", act, where);
  c.act = activation_parse(act, where + " activation_function");
  json_field(j, "use_learned_position_embeddings", c.learned_positions, where);
  json_field(j, "layernorm_embedding", c.layernorm_embedding, where);
  json_field(j, "scale_embedding", c.scale_embedding, where);
  json_field(j, "tie_word_embeddings", c.tie_word_embeddings, where);
  json_field(j, "bos_token_id", c.bos, where, 0);
  json_field(j, "pad_token_id", c.pad, where, 0);
  json_field(j, "eos_token_id", c.eos, where, 0);
  json_field(j, "decoder_start_token_id", c.decoder_start, where, 0);
  attention_heads_check(c.hidden, c.heads, where);
  for (auto [name, id] : {std::pair{"bos_token_id", c.bos}, {"pad_token_id", c.pad}, {"eos_token_id", c.eos},
                          {"decoder_start_token_id", c.decoder_start}})
    if (id >= c.vocab) fail(where, ": ", name, " ", id, " is outside the vocabulary (vocab_size ", c.vocab, ")");
  return c;
}

}  // namespace glimpse
