// What the generation engine (fusion/decoding) needs from an autoregressive text decoder that
// cross-attends to encoder states: BLIP's BERT decoder and GPT-2 both provide it.
#pragma once

#include "runtime/memory.hpp"
#include "runtime/ops.hpp"

#include <vector>

namespace glimpse {

// Cross-attention K/V of one batch of encoder states: [B, N, 2D] per layer (K | V), fp32, or fp16
// for fp16 models on the CPU backend (cross_kv_alloc).
struct CrossKv {
  int64_t batch = 0, tokens = 0;
  std::vector<Tensor> kv;
};

// Self-attention KV caches; set 1 exists for beam search (steps alternate sets, reordering as
// they go); `step` (u32 [1], host-visible) holds the cache length the next pass starts at.
struct DecodeState {
  struct Caches {
    std::vector<Tensor> k, v;  // [B, max_len, D] per layer
  };
  int64_t batch = 0, max_len = 0;
  Caches caches[2];
  Tensor step;
};

struct DecoderTokens {
  uint32_t eos, pad;  // generation stops at eos; finished rows are padded with pad
  int64_t vocab;
};

class TextDecoder {
 public:
  virtual ~TextDecoder() = default;
  virtual DecoderTokens tokens() const = 0;
  virtual int64_t encoder_width() const = 0;  // the width of the states cross-attention reads

  virtual CrossKv cross_alloc(Allocator& arena, int64_t batch, int64_t tokens) const = 0;
  virtual void record_cross(Sequence& seq, const Tensor& states, const CrossKv& kv) const = 0;
  virtual DecodeState decode_alloc(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len,
                                   bool reorderable) const = 0;
  // One step over `tokens` new ids per row (ids u32 [B * tokens]) at cache position step[0] into
  // cache set `set` (gathered from the other by `reorder` first, when given): the last position's
  // logits [B, V] and their argmax (next, next_logit [B]).
  virtual void record_step(Sequence& seq, Allocator& arena, DecodeState& st, const Tensor& ids, int64_t tokens,
                           const CrossKv& cross, const Tensor& logits, const Tensor& next, const Tensor& next_logit,
                           int set = 0, const Tensor* reorder = nullptr) const = 0;
};

// The cross-attention K/V of encoder `states` [B, N, Ve] for `decoder`, `beams` rows per input (each
// input's states gathered per beam row first), allocated from `arena`: the one place the K/V that
// decoding reads are computed (a recorded image pass calls it too). `host` holds the gather index.
CrossKv cross_kv_record(Sequence& seq, Allocator& arena, Allocator& host, const TextDecoder& decoder,
                        const Tensor& states, int64_t beams);

// Shared pieces of decoders.
// `weights`: the dtype of the decoder's K/V projection weights.
CrossKv cross_kv_alloc(Allocator& arena, int64_t batch, int64_t tokens, size_t layers, int64_t width, DType weights);
DecodeState decode_state_alloc(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len, int64_t width,
                               size_t layers, bool reorderable);
// Beam search: each row of cache set `set` continues row reorder[j] of the other set.
void decode_state_reorder(Sequence& seq, DecodeState& st, int set, const Tensor& reorder);
// Causal self-attention of one layer over its cache: appends this pass's K and V (from qkv
// [B, T, 3D]: q | k | v) at position step[0] and attends over everything cached, into ctx [B, T, D].
void cached_self_attention(Sequence& seq, const Tensor& qkv, const Tensor& ctx, int64_t heads, DecodeState& st,
                           const DecodeState::Caches& caches, size_t layer);
// Cross-attention of one layer: q [B, T, D] over the encoder states' cached K/V, into ctx [B, T, D]
// (no mask: BLIP and VisionEncoderDecoder pass all-ones encoder masks).
void cross_attention(Sequence& seq, const Tensor& q, const Tensor& ctx, int64_t heads, const CrossKv& cross,
                     size_t layer);
// A strided copy of each row's last position: x [B * T, D] -> last [B, D].
void last_positions(Sequence& seq, const Tensor& x, int64_t batch, int64_t tokens, const Tensor& last);

}  // namespace glimpse
