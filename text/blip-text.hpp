// The BLIP text decoder (BlipTextLMHeadModel, model-spec.md §2.4): BERT embeddings, post-LN
// layers with causal self-attention over a KV cache and cross-attention to the image in every
// layer, and the LM head with its transform. The image's cross-attention K/V are computed once
// per image (record_cross) and read at every step.
#pragma once

#include "fusion/blip-config.hpp"
#include "runtime/ops.hpp"
#include "runtime/weights.hpp"

#include <string>
#include <vector>

namespace glimpse {

struct BlipTextLayer {
  LinearWeight qkv;         // attention.self.{query,key,value}.weight [D, D] each, fused [3D, D]
  Tensor qkv_b;             // [3D]
  LinearWeight attn_out;    // attention.output.dense [D, D]
  Tensor attn_out_b, attn_ln_w, attn_ln_b;  // [D]; attention.output.LayerNorm
  LinearWeight cross_q;     // crossattention.self.query [D, D]
  Tensor cross_q_b;         // [D]
  LinearWeight cross_kv;    // crossattention.self.{key,value} [D, Ve] each, fused [2D, Ve]
  Tensor cross_kv_b;        // [2D]
  LinearWeight cross_out;   // crossattention.output.dense [D, D]
  Tensor cross_out_b, cross_ln_w, cross_ln_b;
  LinearWeight inter;       // intermediate.dense [I, D]
  Tensor inter_b;           // [I]
  LinearWeight out;         // output.dense [D, I]
  Tensor out_b, out_ln_w, out_ln_b;
};

class BlipTextDecoder {
 public:
  BlipTextDecoder(WeightLoader& w, const BlipTextConfig& cfg);

  // Per-request state: the image's cross K/V per layer, the self-attention KV caches, and the
  // host-visible step buffer holding the cache length the next pass starts at.
  struct Caches {
    std::vector<Tensor> k, v;  // [B, max_len, D] per layer
  };
  struct State {
    int64_t batch = 0, max_len = 0, image_tokens = 0;
    std::vector<Tensor> cross_kv;  // [B, N, 2D] per layer: K | V
    Caches caches[2];              // set 1 exists for beam search: steps alternate, reordering as they go
    Tensor step;                   // u32 [1]
  };
  State state_create(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len, int64_t image_tokens,
                     bool reorderable = false) const;
  // Cross-attention K/V of the image embeddings [B, N, Ve], once per image.
  void record_cross(Sequence& seq, const Tensor& image_embeds, State& st) const;
  // One pass over `tokens` new ids per row (ids: u32 [B * tokens]) at cache position step[0]
  // into cache set `set`: appends to the caches, writes the last position's logits [B, V] and
  // their argmax to next [B]. With `reorder` (u32 [B], beam search), the caches are first
  // gathered from the other set: row j of `set` = row reorder[j] of the other.
  void record_step(Sequence& seq, Allocator& arena, State& st, const Tensor& ids, int64_t tokens, const Tensor& logits,
                   const Tensor& next, const Tensor& next_logit, int set = 0, const Tensor* reorder = nullptr) const;
  const BlipTextConfig& config() const { return cfg_; }

 private:
  BlipTextConfig cfg_;
  Tensor word_emb;             // bert.embeddings.word_embeddings.weight [V, D]
  Tensor pos_emb;              // bert.embeddings.position_embeddings.weight [P, D]
  Tensor emb_ln_w, emb_ln_b;   // bert.embeddings.LayerNorm [D]
  std::vector<BlipTextLayer> layers;
  LinearWeight head_transform;  // cls.predictions.transform.dense [D, D]
  Tensor head_transform_b, head_ln_w, head_ln_b;
  LinearWeight head_decoder;    // cls.predictions.decoder.weight [V, D] (tied to word_embeddings)
  Tensor head_bias;             // cls.predictions.bias [V] (alias decoder.bias)
};

}  // namespace glimpse
