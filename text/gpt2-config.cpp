#include "text/gpt2-config.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"
#include "runtime/ops.hpp"

namespace glimpse {

Gpt2Config gpt2_config_parse(const nlohmann::json& j, const std::string& where) {
  Gpt2Config g;
  json_field(j, "vocab_size", g.vocab, where);
  json_field(j, "n_embd", g.hidden, where);
  json_field(j, "n_layer", g.layers, where, 1, 256);
  json_field(j, "n_head", g.heads, where, 1, 1024);
  g.inner = 4 * g.hidden;
  json_field(j, "n_inner", g.inner, where);
  json_field(j, "n_positions", g.positions, where);
  json_eps_field(j, "layer_norm_epsilon", g.eps, where);
  json_field(j, "eos_token_id", g.eos, where, 0);
  g.pad = g.bos = g.eos;
  json_field(j, "bos_token_id", g.bos, where, 0);
  json_field(j, "pad_token_id", g.pad, where, 0);
  std::string act = "gelu_new";
  json_field(j, "activation_function", act, where);
  if (act != "gelu_new") fail(where, ": activation_function '", act, "' is not supported (gelu_new)");
  bool cross = false;
  json_field(j, "add_cross_attention", cross, where);
  if (!cross) fail(where, ": add_cross_attention must be true");
  attention_heads_check(g.hidden, g.heads, where);
  return g;
}

}  // namespace glimpse
