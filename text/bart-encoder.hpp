// A BART encoder over given input rows, as Florence-2 runs it (modeling_florence2.py
// Florence2Encoder with inputs_embeds; docs/models/florence2.md): the rows of a prefix (the image
// tokens) followed by a prompt's token rows, learned positions with the offset of 2 over the whole
// sequence, layernorm_embedding, then post-LN layers of bidirectional self-attention and an
// fc1/fc2 MLP, with no mask and no final LayerNorm.
#pragma once

#include "runtime/ops.hpp"
#include "runtime/weights.hpp"
#include "text/decoder.hpp"

#include <string>
#include <vector>

namespace glimpse {

struct BartEncoderConfig {
  int hidden = 1024, layers = 12, heads = 16, ffn = 4096, max_positions = 1024;
  Activation act = Activation::GeluErf;
  float eps = 1e-5f;  // nn.LayerNorm's default
};

class BartEncoder {
 public:
  // prefix: where "embed_positions", "layernorm_embedding" and "layers.L.*" are
  // ("language_model.model.encoder.").
  BartEncoder(WeightLoader& w, const BartEncoderConfig& cfg, const std::string& prefix, std::string who);

  // out [B, N + T, D] = the encoder over [prefix [B, N, D]; table rows of `ids` (T of them, the
  // same for every row of the batch, unscaled)]. An Error (InvalidArgument) when N + T exceeds
  // the position table, where transformers fails with an index error. Scratch from `arena`.
  void record(Sequence& seq, Allocator& arena, const Tensor& prefix, const Tensor& table,
              const std::vector<uint32_t>& ids, const Tensor& out) const;
  const BartEncoderConfig& config() const { return cfg_; }

 private:
  BartEncoderConfig cfg_;
  std::string who_;
  Tensor pos_;                // embed_positions.weight [max_positions + 2, D]
  Tensor emb_ln_w_, emb_ln_b_;
  std::vector<PostLnLayer> layers_;
};

}  // namespace glimpse
