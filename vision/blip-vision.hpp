// The BLIP vision tower (BlipVisionModel, model-spec.md §2.3): patch embedding, class token and
// positions, pre-LN transformer layers with a fused qkv, and post_layernorm over all tokens.
#pragma once

#include "fusion/blip-config.hpp"
#include "runtime/ops.hpp"
#include "runtime/weights.hpp"

#include <vector>

namespace glimpse {

struct BlipVisionLayer {
  Tensor ln1_w, ln1_b;    // layer_norm1.{weight,bias} [D]
  LinearWeight qkv;       // self_attn.qkv.weight [3D, D]: q | k | v
  Tensor qkv_b;           // self_attn.qkv.bias [3D]
  LinearWeight proj;      // self_attn.projection.weight [D, D]
  Tensor proj_b;          // [D]
  Tensor ln2_w, ln2_b;    // layer_norm2 [D]
  LinearWeight fc1, fc2;  // mlp.fc1 [I, D], mlp.fc2 [D, I]
  Tensor fc1_b, fc2_b;    // [I], [D]
};

class BlipVision {
 public:
  BlipVision(WeightLoader& w, const BlipVisionConfig& cfg);

  // Records the tower for `pixel_values` [B, 3, S, S] into `embeds` [B, N, D] (N = tokens).
  // Scratch comes from `arena`.
  void record(Sequence& seq, Allocator& arena, const Tensor& pixel_values, const Tensor& embeds) const;
  const BlipVisionConfig& config() const { return cfg_; }

 private:
  BlipVisionConfig cfg_;
  LinearWeight patch_w;  // embeddings.patch_embedding.weight [D, 3, P, P] as [D, 3*P*P]
  Tensor patch_b;        // [D]
  Tensor cls;            // embeddings.class_embedding [1, 1, D]
  Tensor pos;            // embeddings.position_embedding [1, N, D]
  std::vector<BlipVisionLayer> layers;
  Tensor post_w, post_b;  // post_layernorm [D]
};

}  // namespace glimpse
