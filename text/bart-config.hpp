// The configuration of a BART-style text decoder (text/bart-decoder.hpp). The defaults are
// configuration_trocr.py's TrOCRConfig's (hidden_size, num_hidden_layers and num_attention_heads
// are its aliases of d_model, decoder_layers and decoder_attention_heads); Florence-2's language
// config fills the same fields (fusion/florence2.cpp).
#pragma once

#include "runtime/ops.hpp"

namespace glimpse {

struct BartDecoderConfig {
  int vocab = 50265, hidden = 1024, layers = 12, heads = 16, ffn = 4096, max_positions = 512;
  int cross_hidden = 0;  // cross_attention_hidden_size: the width cross-attention K/V read; 0 (null): hidden
  Activation act = Activation::GeluErf;
  bool learned_positions = true;   // use_learned_position_embeddings; else fairseq sinusoids
  bool layernorm_embedding = true;
  bool scale_embedding = false;    // token rows times sqrt(d_model)
  bool tie_word_embeddings = true; // PretrainedConfig's default; the published files say false
  int bos = 0, pad = 1, eos = 2, decoder_start = 2;
  float eps = 1e-5f;  // nn.LayerNorm's default: TrOCR's config has no eps field

  int encoder_width() const { return cross_hidden ? cross_hidden : hidden; }
};

}  // namespace glimpse
