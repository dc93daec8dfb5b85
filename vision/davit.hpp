// Florence-2's image side: the DaViT encoder (convolutional stems, then per block a spatial block of
// window attention and a channel block of channel-group attention, each with depthwise-conv position
// encodings and an MLP) and the image projection (2-D learned positions, the cosine temporal
// embedding, the mean-pooled token ahead of the grid, the projection and its LayerNorm), as the
// original remote code computes them (modeling_florence2.py DaViT.forward_features_unpool and
// Florence2ForConditionalGeneration._encode_image; docs/models/florence2.md).
#pragma once

#include "runtime/ops.hpp"
#include "runtime/weights.hpp"
#include "vision/davit-config.hpp"
#include "vision/image-encoder.hpp"

#include <vector>

namespace glimpse {

struct DavitBlockHalf {   // a spatial block (window attention) or a channel block (channel attention)
  Tensor conv1_w, conv1_b;  // conv1.fn.dw [C, 1, 3, 3] as [C, 9], [C]
  Tensor norm1_w, norm1_b;  // {window,channel}_attn.norm
  LinearWeight qkv, proj;   // {window,channel}_attn.fn.qkv [3C, C], .fn.proj [C, C]
  Tensor qkv_b, proj_b;
  Tensor conv2_w, conv2_b;
  Tensor norm2_w, norm2_b;  // ffn.norm
  LinearWeight fc1, fc2;    // ffn.fn.net.fc1 [4C, C], fc2 [C, 4C]
  Tensor fc1_b, fc2_b;
};

struct DavitStageWeights {
  LinearWeight conv_w;      // convs.i.proj [D, Cin, k, k] as [D, Cin*k*k]
  Tensor conv_b;
  Tensor norm_w, norm_b;    // convs.i.norm: [Cin] before the conv (prenorm) or [D] after it
  std::vector<DavitBlockHalf> spatial, channel;
};

class DavitEncoder final : public ImageEncoder {
 public:
  // Tensor names as the original checkpoints have them ("vision_tower.*", "image_projection", ...).
  DavitEncoder(WeightLoader& w, const DavitConfig& cfg);

  // pixel_values [B, 3, S, S] -> features [B, image_tokens, projection_dim]. Scratch from `arena`.
  void record(Sequence& seq, Allocator& arena, const Tensor& pixel_values, const Tensor& features) const override;
  const DavitConfig& config() const { return cfg_; }
  int64_t image_size() const override { return cfg_.image_size; }
  int64_t channels() const override { return 3; }
  int64_t tokens() const override { return cfg_.image_tokens(); }
  int64_t width() const override { return cfg_.projection_dim; }

 private:
  void block_half(Sequence& seq, const DavitBlockHalf& h, const DavitStage& st, int64_t batch, int side, bool window,
                  struct DavitScratch& s) const;

  DavitConfig cfg_;
  std::vector<DavitStageWeights> stages_;
  LinearWeight projection_;   // image_projection [D, P] (x @ W)
  Tensor proj_norm_w_, proj_norm_b_;
  Tensor zero_token_;         // [1, D]: the pooled token's slot before pool_first
  Tensor positions_;          // [1 + N, D]: 0, then the 2-D positions plus temporal embedding row 0
};

}  // namespace glimpse
