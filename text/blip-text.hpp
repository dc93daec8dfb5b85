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

  BlipTextConfig cfg_;
  Tensor word_emb;             // embeddings.word_embeddings.weight [V, D], f32 (or the tied head's f16 rows)
  Tensor pos_emb;              // embeddings.position_embeddings.weight [P, D]
  Tensor emb_ln_w, emb_ln_b;   // embeddings.LayerNorm [D]
  std::vector<PostLnLayer> layers;  // encoder.layer.L.*: BERT names (text/blip-text.cpp kBertNames)
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
