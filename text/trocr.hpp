// TrOCR's text decoder (TrOCRForCausalLM; docs/models/trocr.md): a BART-style decoder of post-LN
// layers (self-attention, cross-attention to the image encoder's states, an fc1/fc2 MLP), token
// rows optionally scaled by sqrt(d_model), learned positions with an offset of 2 or fairseq's
// sinusoids, an optional embedding LayerNorm, and an output projection without bias.
#pragma once

#include "runtime/weights.hpp"
#include "text/decoder.hpp"
#include "text/trocr-config.hpp"

#include <vector>

namespace glimpse {

// The sinusoidal position table TrOCRSinusoidalPositionalEmbedding.get_embedding builds: `rows`
// rows [sin | cos] of width `dim` (a zero column when odd), row `pad` zero. fp32 as torch computes it.
std::vector<float> trocr_sinusoids(int64_t rows, int64_t dim, int64_t pad);

class TrocrDecoder : public TextDecoder {
 public:
  TrocrDecoder(WeightLoader& w, const TrocrConfig& cfg);

  DecoderTokens tokens() const override { return {uint32_t(cfg_.eos), uint32_t(cfg_.pad), cfg_.vocab}; }
  int64_t encoder_width() const override { return cfg_.encoder_width(); }
  CrossKv cross_alloc(Allocator& arena, int64_t batch, int64_t tokens) const override;
  void record_cross(Sequence& seq, const Tensor& states, const CrossKv& kv) const override;
  DecodeState decode_alloc(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len,
                           bool reorderable) const override;
  void record_step(Sequence& seq, Allocator& arena, DecodeState& st, const Tensor& ids, int64_t tokens,
                   const CrossKv& cross, const Tensor& logits, const Tensor& next, const Tensor& next_logit,
                   int set = 0, const Tensor* reorder = nullptr) const override;
  const TrocrConfig& config() const { return cfg_; }
  // The longest sequence (start token included) the position table covers.
  int64_t positions() const { return cfg_.max_positions; }

 private:
  TrocrConfig cfg_;
  LinearWeight head_;     // output_projection.weight [V, D] (embed_tokens.weight when tied)
  Tensor embed_;          // embed_tokens.weight [V, D] (the head's rows when tied)
  Tensor pos_;            // embed_positions.weight [max_positions + 2, D], or the sinusoid table
  Tensor emb_ln_w, emb_ln_b;  // layernorm_embedding [D], when configured
  EmbedOptions embed_opt_;    // the row scale; pad-aware numbering for sinusoids
  uint32_t pos0_ = 2;         // the position row of the first token
  std::vector<PostLnLayer> layers_;  // decoder.model.decoder.layers.L.*: BART names
};

}  // namespace glimpse
