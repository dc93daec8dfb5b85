// BLIP's BERT (BlipTextModel, docs/models/blip.md): embeddings and post-LN layers with self- and
// cross-attention in every layer. As the captioning/answer decoder (text_decoder.bert.*, causal,
// over a KV cache, with the LM head) and as the VQA question encoder (text_encoder.*,
// bidirectional). Cross-attention K/V of the encoder states are computed once (record_cross).
#pragma once

#include "runtime/ops.hpp"
#include "runtime/weights.hpp"
#include "text/blip-text-config.hpp"
#include "text/decoder.hpp"

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

// An output projection tied to the word embeddings, and the checkpoint name it was loaded from.
struct TiedHead {
  std::string name;
  LinearWeight weight;
};

class BlipText {
 public:
  // prefix: "text_decoder.bert." or "text_encoder.". With `head`, the word embeddings are that
  // projection's rows when the checkpoint ties them (WeightLoader::tied_table).
  BlipText(WeightLoader& w, const BlipTextConfig& cfg, const std::string& prefix, const TiedHead* head = nullptr);

  CrossKv cross_alloc(Allocator& arena, int64_t batch, int64_t tokens) const;
  // Cross-attention K/V of `states` [B, N, Ve] into `kv`, once per image (or question).
  void record_cross(Sequence& seq, const Tensor& states, const CrossKv& kv) const;

  // Bidirectional pass (the VQA question encoder): ids u32 [B * T] -> out [B, T, D].
  void record_encode(Sequence& seq, Allocator& arena, const Tensor& ids, int64_t batch, int64_t tokens,
                     const CrossKv& cross, const Tensor& out) const;

  DecodeState decode_alloc(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len, bool reorderable) const;
  // Causal pass over `tokens` new ids per row at cache position step[0] into cache set `set`
  // (gathered from the other set by `reorder` first, when given): x [B * T, D] is the output.
  void record_decode(Sequence& seq, Allocator& arena, DecodeState& st, const Tensor& ids, int64_t tokens,
                     const CrossKv& cross, const Tensor& x, int set, const Tensor* reorder) const;

  const BlipTextConfig& config() const { return cfg_; }

 private:
  struct SelfAttention;  // how a layer's self-attention reads its K/V (own tokens, or a cache)
  void record_layers(Sequence& seq, Allocator& arena, const Tensor& x, int64_t batch, int64_t tokens,
                     const CrossKv& cross, const SelfAttention& self) const;

  BlipTextConfig cfg_;
  Tensor word_emb;             // embeddings.word_embeddings.weight [V, D], f32 (or the tied head's f16 rows)
  Tensor pos_emb;              // embeddings.position_embeddings.weight [P, D]
  Tensor emb_ln_w, emb_ln_b;   // embeddings.LayerNorm [D]
  std::vector<BlipTextLayer> layers;
};

// The BLIP text decoder with its LM head (BlipTextLMHeadModel).
class BlipTextDecoder : public TextDecoder {
 public:
  BlipTextDecoder(WeightLoader& w, const BlipTextConfig& cfg);

  DecoderTokens tokens() const override;
  int64_t encoder_width() const override { return config().encoder_hidden; }
  CrossKv cross_alloc(Allocator& arena, int64_t batch, int64_t tokens) const override {
    return body_.cross_alloc(arena, batch, tokens);
  }
  void record_cross(Sequence& seq, const Tensor& states, const CrossKv& kv) const override {
    body_.record_cross(seq, states, kv);
  }
  DecodeState decode_alloc(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len,
                           bool reorderable) const override {
    return body_.decode_alloc(arena, host, batch, max_len, reorderable);
  }
  void record_step(Sequence& seq, Allocator& arena, DecodeState& st, const Tensor& ids, int64_t tokens,
                   const CrossKv& cross, const Tensor& logits, const Tensor& next, const Tensor& next_logit,
                   int set = 0, const Tensor* reorder = nullptr) const override;
  const BlipTextConfig& config() const { return body_.config(); }

 private:
  TiedHead head_;               // cls.predictions.decoder.weight [V, D] (tied to word_embeddings); before body_
  BlipText body_;
  LinearWeight head_transform;  // cls.predictions.transform.dense [D, D]
  Tensor head_transform_b, head_ln_w, head_ln_b;
  Tensor head_bias;             // cls.predictions.bias [V] (alias decoder.bias)
};

}  // namespace glimpse
