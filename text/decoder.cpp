#include "text/decoder.hpp"

#include "runtime/backend.hpp"
#include "runtime/device.hpp"
#include "runtime/error.hpp"

namespace glimpse {

CrossKv cross_kv_alloc(Allocator& arena, int64_t batch, int64_t tokens, size_t layers, int64_t width, DType weights) {
  // fp16 models keep them in fp16 where the backend reads fp16 K/V. Every decode step reads all of them (BLIP-base:
  // 42.5 MB a token in fp32, more than the caches hold), so half the bytes is half the memory and less
  // time; fp16 weights already bound the model's accuracy (tests: within 2e-2 of PyTorch's logits).
  // Backends that cannot read fp16 K/V get fp32 ones.
  const DType dtype = arena.context().backend().attention_f16_kv() && weights == DType::F16 ? DType::F16 : DType::F32;
  CrossKv kv;
  kv.batch = batch;
  kv.tokens = tokens;
  for (size_t i = 0; i < layers; ++i) kv.kv.push_back(arena.alloc(dtype, {batch, tokens, 2 * width}));
  return kv;
}

CrossKv cross_kv_record(Sequence& seq, Allocator& arena, Allocator& host, const TextDecoder& decoder,
                        const Tensor& states, int64_t beams) {
  const int64_t b = states.dim(0), n = states.dim(1), rows = b * beams;
  CrossKv kv = decoder.cross_alloc(arena, rows, n);
  if (beams == 1) {
    decoder.record_cross(seq, states, kv);
    return kv;
  }
  Tensor per_beam = host.alloc(DType::U32, {rows});
  std::vector<uint32_t> idx;
  for (int64_t i = 0; i < rows; ++i) idx.push_back(uint32_t(i / beams));
  tensor_upload(arena.context(), per_beam, idx.data(), idx.size() * 4);
  Tensor expanded = arena.alloc(DType::F32, {rows, n, decoder.encoder_width()});
  gather_rows(seq, states, per_beam, expanded);
  decoder.record_cross(seq, expanded, kv);
  return kv;
}

DecodeState decode_state_alloc(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len, int64_t width,
                               size_t layers, bool reorderable) {
  DecodeState st;
  st.batch = batch;
  st.max_len = max_len;
  for (size_t i = 0; i < layers; ++i)
    for (int set = 0; set < (reorderable ? 2 : 1); ++set) {
      st.caches[set].k.push_back(arena.alloc(DType::F32, {batch, max_len, width}));
      st.caches[set].v.push_back(arena.alloc(DType::F32, {batch, max_len, width}));
    }
  st.step = host.alloc(DType::U32, {1});
  return st;
}

void decode_state_reorder(Sequence& seq, DecodeState& st, int set, const Tensor& reorder) {
  const DecodeState::Caches& from = st.caches[1 - set];
  DecodeState::Caches& to = st.caches[set];
  if (from.k.empty() || to.k.empty()) fail("decoder: reordering needs both cache sets (decode_alloc reorderable)");
  for (size_t i = 0; i < to.k.size(); ++i) {
    gather_rows(seq, from.k[i], reorder, to.k[i]);
    gather_rows(seq, from.v[i], reorder, to.v[i]);
  }
}

void cached_self_attention(Sequence& seq, const Tensor& qkv, const Tensor& ctx, int64_t heads, DecodeState& st,
                           const DecodeState::Caches& caches, size_t layer) {
  const uint32_t b = uint32_t(qkv.dim(0)), t = uint32_t(qkv.dim(1)), d = uint32_t(qkv.dim(2) / 3);
  KvAppendArgs app;
  app.batch = b;
  app.tokens = t;
  app.dim = d;
  app.max_t = uint32_t(st.max_len);
  app.step = &st.step;
  app.src = {&qkv, d, 3 * d, t * 3 * d};
  app.cache = &caches.k[layer];
  kv_append(seq, app);
  app.src = {&qkv, 2 * d, 3 * d, t * 3 * d};
  app.cache = &caches.v[layer];
  kv_append(seq, app);
  AttentionArgs a;
  a.batch = b;
  a.heads = uint32_t(heads);
  a.head_dim = d / uint32_t(heads);
  a.q_len = a.kv_len = t;
  a.kv_len_add_past = true;  // + step[0] cached keys
  a.step = &st.step;
  a.causal = true;
  a.q = {&qkv, 0, 3 * d, t * 3 * d};
  a.k = AttnView::dense(caches.k[layer], uint32_t(st.max_len), d);
  a.v = AttnView::dense(caches.v[layer], uint32_t(st.max_len), d);
  a.o = AttnView::dense(ctx, t, d);
  attention(seq, a);
}

void cross_attention(Sequence& seq, const Tensor& q, const Tensor& ctx, int64_t heads, const CrossKv& cross,
                     size_t layer) {
  const uint32_t b = uint32_t(q.dim(0)), t = uint32_t(q.dim(1)), d = uint32_t(q.dim(2)), n = uint32_t(cross.tokens);
  if (int64_t(b) != cross.batch) fail("cross-attention: queries for batch ", b, ", K/V for batch ", cross.batch);
  AttentionArgs a;
  a.batch = b;
  a.heads = uint32_t(heads);
  a.head_dim = d / uint32_t(heads);
  a.q_len = t;
  a.kv_len = n;
  a.q = AttnView::dense(q, t, d);
  a.k = {&cross.kv[layer], 0, 2 * d, n * 2 * d};
  a.v = {&cross.kv[layer], d, 2 * d, n * 2 * d};
  a.o = AttnView::dense(ctx, t, d);
  attention(seq, a);
}

void last_positions(Sequence& seq, const Tensor& x, int64_t batch, int64_t tokens, const Tensor& last) {
  const uint32_t t = uint32_t(tokens), d = uint32_t(x.numel() / (batch * tokens));
  KvAppendArgs pick;  // row b*T + T-1 of x into row b of last
  pick.batch = uint32_t(batch);
  pick.tokens = 1;
  pick.dim = d;
  pick.max_t = 1;
  pick.src = {&x, (t - 1) * d, d, t * d};
  pick.cache = &last;
  kv_append(seq, pick);
}

}  // namespace glimpse
