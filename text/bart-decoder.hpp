// A BART-style text decoder, as TrOCR (TrOCRForCausalLM; docs/models/trocr.md) and Florence-2
// (Florence2Decoder and its lm_head; docs/models/florence2.md) have it: post-LN layers
// (self-attention, cross-attention to encoder states, an fc1/fc2 MLP), token rows optionally
// scaled by sqrt(d_model), learned positions with an offset of 2 or fairseq's sinusoids, an
// optional embedding LayerNorm, and an output projection without bias, plus BART's
// final_logits_bias where the checkpoint has one.
#pragma once

#include "runtime/weights.hpp"
#include "text/decoder.hpp"
#include "text/bart-config.hpp"

#include <string>

#include <vector>

namespace glimpse {

// The sinusoidal position table TrOCRSinusoidalPositionalEmbedding.get_embedding builds: `rows`
// rows [sin | cos] of width `dim` (a zero column when odd), row `pad` zero. fp32 as torch computes it.
std::vector<float> trocr_sinusoids(int64_t rows, int64_t dim, int64_t pad);

// Where the decoder's tensors are in a checkpoint (the defaults: TrOCR's).
struct BartDecoderNames {
  std::string who = "TrOCR";                           // the model, in messages
  std::string prefix = "decoder.model.decoder.";       // layers.L.*, embed_positions, layernorm_embedding
  std::string embed = "decoder.model.decoder.embed_tokens.weight";
  std::string head = "decoder.output_projection.weight";
  std::string logits_bias;  // [1, V] added to the logits when present (BART's final_logits_bias)
};

class BartDecoder : public TextDecoder {
 public:
  BartDecoder(WeightLoader& w, const BartDecoderConfig& cfg, const BartDecoderNames& names = {});

  DecoderTokens tokens() const override { return {uint32_t(cfg_.eos), uint32_t(cfg_.pad), cfg_.vocab}; }
  int64_t encoder_width() const override { return cfg_.encoder_width(); }
  CrossKv cross_alloc(Allocator& arena, int64_t batch, int64_t tokens) const override;
  void record_cross(Sequence& seq, const Tensor& states, const CrossKv& kv) const override;
  DecodeState decode_alloc(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len,
                           bool reorderable) const override;
  void record_step(Sequence& seq, Allocator& arena, DecodeState& st, const Tensor& ids, int64_t tokens,
                   const CrossKv& cross, const Tensor& logits, const Tensor& next, const Tensor& next_logit,
                   int set = 0, const Tensor* reorder = nullptr) const override;
  const BartDecoderConfig& config() const { return cfg_; }
  // The token embedding rows [V, D] (fp32, or the head's fp16 rows when they are the same values).
  const Tensor& token_table() const { return embed_; }
  // The longest sequence (start token included) the position table covers.
  int64_t positions() const { return cfg_.max_positions; }

 private:
  BartDecoderConfig cfg_;
  std::string who_;
  LinearWeight head_;     // output_projection.weight [V, D] (embed_tokens.weight when tied)
  Tensor logits_bias_;    // [V], when the checkpoint has one
  Tensor embed_;          // embed_tokens.weight [V, D] (the head's rows when tied)
  Tensor pos_;            // embed_positions.weight [max_positions + 2, D], or the sinusoid table
  Tensor emb_ln_w, emb_ln_b;  // layernorm_embedding [D], when configured
  EmbedOptions embed_opt_;    // the row scale; pad-aware numbering for sinusoids
  uint32_t pos0_ = 2;         // the position row of the first token
  std::vector<PostLnLayer> layers_;  // decoder.model.decoder.layers.L.*: BART names
};

}  // namespace glimpse
