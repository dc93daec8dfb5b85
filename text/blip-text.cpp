#include "text/blip-text.hpp"

#include "runtime/error.hpp"

namespace glimpse {

BlipTextDecoder::BlipTextDecoder(WeightLoader& w, const BlipTextConfig& cfg) : cfg_(cfg) {
  const int64_t d = cfg.hidden, v = cfg.vocab, ve = cfg.encoder_hidden, inter = cfg.intermediate;
  const std::string bert = "text_decoder.bert.", head = "text_decoder.cls.predictions.";
  word_emb = w.tensor({bert + "embeddings.word_embeddings.weight", head + "decoder.weight"}, {v, d});
  pos_emb = w.tensor({bert + "embeddings.position_embeddings.weight"}, {cfg.max_positions, d});
  emb_ln_w = w.tensor({bert + "embeddings.LayerNorm.weight"}, {d});
  emb_ln_b = w.tensor({bert + "embeddings.LayerNorm.bias"}, {d});
  for (int i = 0; i < cfg.layers; ++i) {
    const std::string l = bert + "encoder.layer." + std::to_string(i) + ".";
    BlipTextLayer L;
    const std::string sa = l + "attention.self.", ca = l + "crossattention.self.";
    L.qkv = w.linear_stack({sa + "query.weight", sa + "key.weight", sa + "value.weight"}, {d, d, d}, d);
    L.qkv_b = w.vector_concat({sa + "query.bias", sa + "key.bias", sa + "value.bias"}, {d, d, d});
    L.attn_out = w.linear(l + "attention.output.dense.weight", d, d);
    L.attn_out_b = w.tensor({l + "attention.output.dense.bias"}, {d});
    L.attn_ln_w = w.tensor({l + "attention.output.LayerNorm.weight"}, {d});
    L.attn_ln_b = w.tensor({l + "attention.output.LayerNorm.bias"}, {d});
    L.cross_q = w.linear(ca + "query.weight", d, d);
    L.cross_q_b = w.tensor({ca + "query.bias"}, {d});
    L.cross_kv = w.linear_stack({ca + "key.weight", ca + "value.weight"}, {d, d}, ve);
    L.cross_kv_b = w.vector_concat({ca + "key.bias", ca + "value.bias"}, {d, d});
    L.cross_out = w.linear(l + "crossattention.output.dense.weight", d, d);
    L.cross_out_b = w.tensor({l + "crossattention.output.dense.bias"}, {d});
    L.cross_ln_w = w.tensor({l + "crossattention.output.LayerNorm.weight"}, {d});
    L.cross_ln_b = w.tensor({l + "crossattention.output.LayerNorm.bias"}, {d});
    L.inter = w.linear(l + "intermediate.dense.weight", inter, d);
    L.inter_b = w.tensor({l + "intermediate.dense.bias"}, {inter});
    L.out = w.linear(l + "output.dense.weight", d, inter);
    L.out_b = w.tensor({l + "output.dense.bias"}, {d});
    L.out_ln_w = w.tensor({l + "output.LayerNorm.weight"}, {d});
    L.out_ln_b = w.tensor({l + "output.LayerNorm.bias"}, {d});
    layers.push_back(std::move(L));
  }
  head_transform = w.linear(head + "transform.dense.weight", d, d);
  head_transform_b = w.tensor({head + "transform.dense.bias"}, {d});
  head_ln_w = w.tensor({head + "transform.LayerNorm.weight"}, {d});
  head_ln_b = w.tensor({head + "transform.LayerNorm.bias"}, {d});
  // Tied pairs, either name (model-spec.md §1.1): prefer the decoder's own copy when present.
  const std::string dec = w.find({head + "decoder.weight", bert + "embeddings.word_embeddings.weight"}, {v, d}).name;
  head_decoder = w.linear(dec, v, d);
  head_bias = w.tensor({head + "bias", head + "decoder.bias"}, {v});
}

BlipTextDecoder::State BlipTextDecoder::state_create(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len,
                                                     int64_t image_tokens, bool reorderable) const {
  if (max_len > cfg_.max_positions)
    fail("BLIP text: max_length ", max_len, " exceeds the model's ", cfg_.max_positions, " positions");
  State st;
  st.batch = batch;
  st.max_len = max_len;
  st.image_tokens = image_tokens;
  const int64_t d = cfg_.hidden;
  for (size_t i = 0; i < layers.size(); ++i) {
    st.cross_kv.push_back(arena.alloc(DType::F32, {batch, image_tokens, 2 * d}));
    for (int set = 0; set < (reorderable ? 2 : 1); ++set) {
      st.caches[set].k.push_back(arena.alloc(DType::F32, {batch, max_len, d}));
      st.caches[set].v.push_back(arena.alloc(DType::F32, {batch, max_len, d}));
    }
  }
  st.step = host.alloc(DType::U32, {1});
  return st;
}

void BlipTextDecoder::record_cross(Sequence& seq, const Tensor& image_embeds, State& st) const {
  const int64_t rows = st.batch * st.image_tokens;
  if (image_embeds.numel() != rows * cfg_.encoder_hidden)
    fail("BLIP text: image embeddings ", image_embeds.describe(), " do not match batch ", st.batch, " x ",
         st.image_tokens, " tokens x encoder_hidden_size ", cfg_.encoder_hidden);
  const Tensor e = image_embeds.view(DType::F32, {rows, int64_t(cfg_.encoder_hidden)});
  for (size_t i = 0; i < layers.size(); ++i)
    linear(seq, e, layers[i].cross_kv, st.cross_kv[i].view(DType::F32, {rows, 2 * int64_t(cfg_.hidden)}),
           {&layers[i].cross_kv_b});
}

void BlipTextDecoder::record_step(Sequence& seq, Allocator& arena, State& st, const Tensor& ids, int64_t tokens,
                                  const Tensor& logits, const Tensor& next, const Tensor& next_logit, int set,
                                  const Tensor* reorder) const {
  Caches& caches = st.caches[set];
  if (caches.k.empty()) fail("BLIP text: cache set ", set, " was not allocated (state_create reorderable)");
  if (reorder) {  // beam search: each beam continues the cache of the beam it came from
    const Caches& from = st.caches[1 - set];
    if (from.k.empty()) fail("BLIP text: reordering needs both cache sets (state_create reorderable)");
    for (size_t i = 0; i < layers.size(); ++i) {
      gather_rows(seq, from.k[i], *reorder, caches.k[i]);
      gather_rows(seq, from.v[i], *reorder, caches.v[i]);
    }
  }
  const int64_t b = st.batch, d = cfg_.hidden, rows = b * tokens, n = st.image_tokens;
  const uint32_t t = uint32_t(tokens), ud = uint32_t(d);
  Tensor x = arena.alloc(DType::F32, {rows, d});
  Tensor tmp = arena.alloc(DType::F32, {rows, d});
  Tensor qkv = arena.alloc(DType::F32, {b, tokens, 3 * d});
  Tensor q = arena.alloc(DType::F32, {b, tokens, d});
  Tensor ctx = arena.alloc(DType::F32, {b, tokens, d});
  Tensor hidden = arena.alloc(DType::F32, {rows, int64_t(cfg_.intermediate)});

  // embeddings: words + positions from the cache length on, then LayerNorm
  embed_tokens(seq, ids, 0, uint32_t(b), t, word_emb, &pos_emb, 0, &st.step, x);
  layer_norm(seq, x, nullptr, emb_ln_w, emb_ln_b, cfg_.eps, x);

  const uint32_t heads = uint32_t(cfg_.heads), dh = ud / heads;
  for (size_t i = 0; i < layers.size(); ++i) {
    const BlipTextLayer& L = layers[i];
    // self-attention, causal over the cache: x = LN(dense(attn) + x)
    linear(seq, x, L.qkv, qkv.view(DType::F32, {rows, 3 * d}), {&L.qkv_b});
    KvAppendArgs app;
    app.batch = uint32_t(b);
    app.tokens = t;
    app.dim = ud;
    app.max_t = uint32_t(st.max_len);
    app.step = &st.step;
    app.src = {&qkv, ud, 3 * ud, t * 3 * ud};
    app.cache = &caches.k[i];
    kv_append(seq, app);
    app.src = {&qkv, 2 * ud, 3 * ud, t * 3 * ud};
    app.cache = &caches.v[i];
    kv_append(seq, app);
    AttentionArgs self;
    self.batch = uint32_t(b);
    self.heads = heads;
    self.head_dim = dh;
    self.q_len = t;
    self.kv_len = t;  // + step[0] cached keys
    self.kv_len_add_past = true;
    self.step = &st.step;
    self.causal = true;
    self.q = {&qkv, 0, 3 * ud, t * 3 * ud};
    self.k = AttnView::dense(caches.k[i], uint32_t(st.max_len), ud);
    self.v = AttnView::dense(caches.v[i], uint32_t(st.max_len), ud);
    self.o = AttnView::dense(ctx, t, ud);
    attention(seq, self);
    linear(seq, ctx.view(DType::F32, {rows, d}), L.attn_out, tmp, {&L.attn_out_b});
    layer_norm(seq, tmp, &x, L.attn_ln_w, L.attn_ln_b, cfg_.eps, x);

    // cross-attention to the image: x = LN(dense(attn) + x)
    linear(seq, x, L.cross_q, q.view(DType::F32, {rows, d}), {&L.cross_q_b});
    AttentionArgs cross;
    cross.batch = uint32_t(b);
    cross.heads = heads;
    cross.head_dim = dh;
    cross.q_len = t;
    cross.kv_len = uint32_t(n);
    cross.q = AttnView::dense(q, t, ud);
    cross.k = {&st.cross_kv[i], 0, 2 * ud, uint32_t(n) * 2 * ud};
    cross.v = {&st.cross_kv[i], ud, 2 * ud, uint32_t(n) * 2 * ud};
    cross.o = AttnView::dense(ctx, t, ud);
    attention(seq, cross);
    linear(seq, ctx.view(DType::F32, {rows, d}), L.cross_out, tmp, {&L.cross_out_b});
    layer_norm(seq, tmp, &x, L.cross_ln_w, L.cross_ln_b, cfg_.eps, x);

    // mlp: x = LN(output(gelu(intermediate(x))) + x)
    linear(seq, x, L.inter, hidden, {&L.inter_b, Activation::GeluErf});
    linear(seq, hidden, L.out, tmp, {&L.out_b});
    layer_norm(seq, tmp, &x, L.out_ln_w, L.out_ln_b, cfg_.eps, x);
  }

  // LM head on each row's last position: LN(gelu(transform(h))) . decoder^T + bias
  Tensor last = arena.alloc(DType::F32, {b, 1, d});
  Tensor head = arena.alloc(DType::F32, {b, d});
  KvAppendArgs pick;  // a strided copy of row b*T + T-1
  pick.batch = uint32_t(b);
  pick.tokens = 1;
  pick.dim = ud;
  pick.max_t = 1;
  pick.src = {&x, (t - 1) * ud, ud, t * ud};
  pick.cache = &last;
  kv_append(seq, pick);
  linear(seq, last.view(DType::F32, {b, d}), head_transform, head, {&head_transform_b, Activation::GeluErf});
  layer_norm(seq, head, nullptr, head_ln_w, head_ln_b, cfg_.eps, head);
  linear(seq, head, head_decoder, logits, {&head_bias});
  argmax(seq, logits, next, next_logit);
}

}  // namespace glimpse
