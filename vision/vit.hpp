// Vision transformers as BLIP (BlipVisionModel, docs/models/blip.md) and Hugging Face's ViTModel
// (docs/models/vit-gpt2.md) lay them out: patch embedding, class token (and DeiT's distillation
// token) and positions, pre-LN layers, a final LayerNorm over all tokens. The layouts differ only
// in tensor names (BLIP fuses q|k|v); biases, prefix tokens and the activation are configuration.
#pragma once

#include "runtime/ops.hpp"
#include "runtime/weights.hpp"
#include "vision/image-encoder.hpp"
#include "vision/vit-config.hpp"

#include <string>
#include <vector>

namespace glimpse {

// Names: BLIP "vision_model.encoder.layers.L.*" / ViT "encoder.encoder.layer.L.*"
struct VitLayer {
  Tensor ln1_w, ln1_b;    // layer_norm1 / layernorm_before [D]
  LinearWeight qkv;       // self_attn.qkv [3D, D] / attention.attention.{query,key,value} [D, D] stacked
  Tensor qkv_b;           // [3D]; none without qkv_bias
  LinearWeight proj;      // self_attn.projection / attention.output.dense [D, D]
  Tensor proj_b;          // [D]
  Tensor ln2_w, ln2_b;    // layer_norm2 / layernorm_after [D]
  LinearWeight fc1, fc2;  // mlp.fc1 / intermediate.dense [I, D]; mlp.fc2 / output.dense [D, I]
  Tensor fc1_b, fc2_b;    // [I], [D]
};

enum class VitLayout { Blip, HuggingFaceVit };

class VitEncoder final : public ImageEncoder {
 public:
  // prefix: "vision_model." (BLIP) or "encoder." (VisionEncoderDecoder's ViT)
  VitEncoder(WeightLoader& w, const VitConfig& cfg, VitLayout layout, const std::string& prefix);

  // Records the tower for `pixel_values` [B, 3, S, S] into `embeds` [B, N, D] (N = tokens).
  // Scratch comes from `arena`.
  void record(Sequence& seq, Allocator& arena, const Tensor& pixel_values, const Tensor& embeds) const override;
  const VitConfig& config() const { return cfg_; }
  int64_t image_size() const override { return cfg_.image_size; }
  int64_t channels() const override { return cfg_.channels; }
  int64_t tokens() const override { return cfg_.tokens(); }
  int64_t width() const override { return cfg_.hidden; }

 private:
  VitConfig cfg_;
  LinearWeight patch_w;  // embeddings.patch_embedding(s.projection).weight [D, 3, P, P] as [D, 3*P*P]
  Tensor patch_b;        // [D]
  Tensor cls;            // embeddings.class_embedding / cls_token (+ distillation_token) [1, 1, D] each, as [C, D]
  Tensor pos;            // embeddings.position_embedding(s) [1, N, D]
  std::vector<VitLayer> layers;
  Tensor post_w, post_b;  // post_layernorm / layernorm [D]
};

}  // namespace glimpse
