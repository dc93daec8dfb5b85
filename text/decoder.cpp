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

CrossKv cross_kv_record(Sequence& seq, Allocator& arena, const TextDecoder& decoder,
                        const Tensor& states, int64_t beams) {
  // Each input's K/V once, whatever its beams: they all read the same (a third of the GEMMs and
  // of the K/V memory with 3 beams: Florence-2-base, 0.28 s -> 0.1 s).
  CrossKv kv = decoder.cross_alloc(arena, states.dim(0), states.dim(1));
  decoder.record_cross(seq, states, kv);
  kv.beams = std::max<int64_t>(1, beams);
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
  const uint32_t rows = uint32_t(q.dim(0)), d = uint32_t(q.dim(2)), n = uint32_t(cross.tokens);
  if (int64_t(rows) != cross.batch * cross.beams)
    fail("cross-attention: queries for batch ", rows, ", K/V for batch ", cross.batch, " x ", cross.beams, " beams");
  // A K/V row's beams are consecutive rows of q: together one entry of beams x T queries.
  const uint32_t b = uint32_t(cross.batch), t = uint32_t(q.dim(1) * cross.beams);
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

PostLnLayer post_ln_layer_load(WeightLoader& w, const std::string& p, const PostLnNames& n, int64_t d, int64_t ffn,
                               int64_t ve) {
  auto wt = [&](const char* part) { return p + part + ".weight"; };
  auto bs = [&](const char* part) { return p + part + ".bias"; };
  PostLnLayer L;
  L.qkv = w.linear_stack({wt(n.q), wt(n.k), wt(n.v)}, {d, d, d}, d);
  L.qkv_b = w.vector_concat({bs(n.q), bs(n.k), bs(n.v)}, {d, d, d});
  L.attn_out = w.linear(wt(n.attn_out), d, d);
  L.attn_out_b = w.tensor({bs(n.attn_out)}, {d});
  L.attn_ln_w = w.tensor({wt(n.attn_ln)}, {d});
  L.attn_ln_b = w.tensor({bs(n.attn_ln)}, {d});
  if (n.cross_q) {  // an encoder layer (BART's) has no cross-attention
    L.cross_q = w.linear(wt(n.cross_q), d, d);
    L.cross_q_b = w.tensor({bs(n.cross_q)}, {d});
    L.cross_kv = w.linear_stack({wt(n.cross_k), wt(n.cross_v)}, {d, d}, ve);
    L.cross_kv_b = w.vector_concat({bs(n.cross_k), bs(n.cross_v)}, {d, d});
    L.cross_out = w.linear(wt(n.cross_out), d, d);
    L.cross_out_b = w.tensor({bs(n.cross_out)}, {d});
    L.cross_ln_w = w.tensor({wt(n.cross_ln)}, {d});
    L.cross_ln_b = w.tensor({bs(n.cross_ln)}, {d});
  }
  L.fc1 = w.linear(wt(n.fc1), ffn, d);
  L.fc1_b = w.tensor({bs(n.fc1)}, {ffn});
  L.fc2 = w.linear(wt(n.fc2), d, ffn);
  L.fc2_b = w.tensor({bs(n.fc2)}, {d});
  L.out_ln_w = w.tensor({wt(n.out_ln)}, {d});
  L.out_ln_b = w.tensor({bs(n.out_ln)}, {d});
  return L;
}

void post_ln_cross_record(Sequence& seq, const std::vector<PostLnLayer>& layers, const Tensor& states,
                          const CrossKv& kv, int64_t d, int64_t ve, const char* who) {
  const int64_t rows = kv.batch * kv.tokens;
  if (states.numel() != rows * ve)
    fail(who, ": encoder states ", states.describe(), " do not match batch ", kv.batch, " x ", kv.tokens,
         " tokens x encoder width ", ve);
  const Tensor e = states.view(DType::F32, {rows, ve});
  for (size_t i = 0; i < layers.size(); ++i) {
    const Tensor out = kv.kv[i].view(kv.kv[i].dtype, {rows, 2 * d});  // fp32 or fp16
    linear(seq, e, layers[i].cross_kv, out, {&layers[i].cross_kv_b});
  }
}

void post_ln_layers_record(Sequence& seq, Allocator& arena, const std::vector<PostLnLayer>& layers, const Tensor& x,
                           int64_t b, int64_t tokens, const CrossKv& cross, const PostLnPass& pass) {
  const int64_t rows = b * tokens, d = x.numel() / std::max<int64_t>(rows, 1);
  const bool crossing = !layers.empty() && layers[0].cross_q.n > 0;
  if (crossing && cross.batch * cross.beams != b)
    fail("decoder: cross-attention K/V for batch ", cross.batch, " x ", cross.beams, " beams, pass of batch ", b);
  const uint32_t t = uint32_t(tokens), ud = uint32_t(d), heads = uint32_t(pass.heads), dh = ud / heads;
  const int64_t ffn = layers.empty() ? 0 : layers[0].fc1.n;
  Tensor tmp = arena.alloc(DType::F32, {rows, d});
  Tensor qkv = arena.alloc(DType::F32, {b, tokens, 3 * d});
  Tensor q = arena.alloc(DType::F32, {b, tokens, d});
  Tensor ctx = arena.alloc(DType::F32, {b, tokens, d});
  Tensor hidden = arena.alloc(DType::F32, {rows, ffn});
  for (size_t i = 0; i < layers.size(); ++i) {
    const PostLnLayer& L = layers[i];
    // self-attention: x = LN(attn_out(attn) + x); causal over the cache when decoding
    linear(seq, x, L.qkv, qkv.view(DType::F32, {rows, 3 * d}), {&L.qkv_b});
    if (pass.st) {
      cached_self_attention(seq, qkv, ctx, pass.heads, *pass.st, *pass.caches, i);
    } else {  // bidirectional over the pass's own tokens
      AttentionArgs sa;
      sa.batch = uint32_t(b);
      sa.heads = heads;
      sa.head_dim = dh;
      sa.q_len = sa.kv_len = t;
      sa.q = {&qkv, 0, 3 * ud, t * 3 * ud};
      sa.k = {&qkv, ud, 3 * ud, t * 3 * ud};
      sa.v = {&qkv, 2 * ud, 3 * ud, t * 3 * ud};
      sa.o = AttnView::dense(ctx, t, ud);
      attention(seq, sa);
    }
    linear(seq, ctx.view(DType::F32, {rows, d}), L.attn_out, tmp, {&L.attn_out_b});
    layer_norm(seq, tmp, &x, L.attn_ln_w, L.attn_ln_b, pass.eps, x);

    // cross-attention to the encoder states: x = LN(cross_out(attn) + x)
    if (crossing) {
      linear(seq, x, L.cross_q, q.view(DType::F32, {rows, d}), {&L.cross_q_b});
      cross_attention(seq, q, ctx, pass.heads, cross, i);
      linear(seq, ctx.view(DType::F32, {rows, d}), L.cross_out, tmp, {&L.cross_out_b});
      layer_norm(seq, tmp, &x, L.cross_ln_w, L.cross_ln_b, pass.eps, x);
    }

    // mlp: x = LN(fc2(act(fc1(x))) + x)
    linear(seq, x, L.fc1, hidden, {&L.fc1_b, pass.act});
    linear(seq, hidden, L.fc2, tmp, {&L.fc2_b});
    layer_norm(seq, tmp, &x, L.out_ln_w, L.out_ln_b, pass.eps, x);
  }
}

}  // namespace glimpse
