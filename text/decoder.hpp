// What the generation engine (fusion/decoding) needs from an autoregressive text decoder that
// cross-attends to encoder states: BLIP's BERT decoder and GPT-2 both provide it.
#pragma once

#include "runtime/memory.hpp"
#include "runtime/ops.hpp"
#include "runtime/weights.hpp"

#include <string>

#include <vector>

namespace glimpse {

// Cross-attention K/V of one batch of encoder states: [B, N, 2D] per layer (K | V), fp32, or fp16
// for fp16 models on the CPU backend (cross_kv_alloc).
struct CrossKv {
  int64_t batch = 0, tokens = 0;
  int64_t beams = 1;  // decoder rows per K/V row: beam search's rows of one input share its K/V
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

// The cross-attention K/V of encoder `states` [B, N, Ve] for `decoder`, read by `beams` decoder rows
// per input (CrossKv::beams: each input's K/V once, its beams' queries attend to them together),
// allocated from `arena`: the one place the K/V that decoding reads are computed (a recorded image
// pass calls it too).
CrossKv cross_kv_record(Sequence& seq, Allocator& arena, const TextDecoder& decoder,
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
// (no mask: BLIP and VisionEncoderDecoder pass all-ones encoder masks). With cross.beams rows per
// K/V row, each input's beams' queries are one attention batch entry of beams x T queries.
void cross_attention(Sequence& seq, const Tensor& q, const Tensor& ctx, int64_t heads, const CrossKv& cross,
                     size_t layer);
// A strided copy of each row's last position: x [B * T, D] -> last [B, D].
void last_positions(Sequence& seq, const Tensor& x, int64_t batch, int64_t tokens, const Tensor& last);

// A post-LN layer with self-attention, cross-attention to encoder states and an MLP, as BERT's
// layers are in BLIP's text model and BART's in TrOCR's decoder:
//   x = LN(x + attn_out(self_attn(x))); x = LN(x + cross_out(cross_attn(x, E)));
//   x = LN(x + fc2(act(fc1(x)))).
struct PostLnLayer {
  LinearWeight qkv;        // q, k, v [D, D] each, stacked [3D, D]
  Tensor qkv_b;            // [3D]
  LinearWeight attn_out;   // [D, D]
  Tensor attn_out_b, attn_ln_w, attn_ln_b;
  LinearWeight cross_q;    // [D, D]
  Tensor cross_q_b;
  LinearWeight cross_kv;   // k, v [D, Ve] each, stacked [2D, Ve]: the encoder states' K/V
  Tensor cross_kv_b;       // [2D]
  LinearWeight cross_out;  // [D, D]
  Tensor cross_out_b, cross_ln_w, cross_ln_b;
  LinearWeight fc1, fc2;   // [F, D], [D, F]
  Tensor fc1_b, fc2_b, out_ln_w, out_ln_b;
};

// The checkpoint names of a layer's parts, after the layer's prefix; ".weight" and ".bias" are
// appended (BLIP: "attention.self.query", ...; TrOCR: "self_attn.q_proj", ...). Null cross_*
// names: a layer without cross-attention (BART's encoder layers), which passes skip.
struct PostLnNames {
  const char *q, *k, *v, *attn_out, *attn_ln;
  const char *cross_q, *cross_k, *cross_v, *cross_out, *cross_ln;
  const char *fc1, *fc2, *out_ln;
};
PostLnLayer post_ln_layer_load(WeightLoader& w, const std::string& prefix, const PostLnNames& names, int64_t width,
                               int64_t ffn, int64_t encoder_width);

// Cross-attention K/V of `states` [B, N, Ve] for every layer into `kv` (cross_kv_alloc). `who`
// names the model in messages.
void post_ln_cross_record(Sequence& seq, const std::vector<PostLnLayer>& layers, const Tensor& states,
                          const CrossKv& kv, int64_t width, int64_t encoder_width, const char* who);

struct PostLnPass {
  int64_t heads = 0;
  float eps = 1e-5f;
  Activation act = Activation::GeluErf;
  // Decoding: append this pass's K/V to `caches` and attend causally over them. Without a state
  // the pass attends bidirectionally over its own tokens (BLIP's question encoder).
  DecodeState* st = nullptr;
  const DecodeState::Caches* caches = nullptr;
};
// The layers over x [B * T, D] in place. Scratch comes from `arena`. `cross` is unused by layers
// without cross-attention.
void post_ln_layers_record(Sequence& seq, Allocator& arena, const std::vector<PostLnLayer>& layers, const Tensor& x,
                           int64_t batch, int64_t tokens, const CrossKv& cross, const PostLnPass& pass);

}  // namespace glimpse
