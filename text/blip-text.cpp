#include "text/blip-text.hpp"

#include "runtime/error.hpp"

namespace glimpse {

BlipText::BlipText(WeightLoader& w, const BlipTextConfig& cfg, const std::string& prefix, const TiedHead* head)
    : cfg_(cfg) {
  const int64_t d = cfg.hidden, v = cfg.vocab, ve = cfg.encoder_hidden, inter = cfg.intermediate;
  const std::string emb = prefix + "embeddings.word_embeddings.weight";
  word_emb = head ? w.tied_table(emb, head->name, head->weight, {v, d}) : w.tensor({emb}, {v, d});
  pos_emb = w.tensor({prefix + "embeddings.position_embeddings.weight"}, {cfg.max_positions, d});
  emb_ln_w = w.tensor({prefix + "embeddings.LayerNorm.weight"}, {d});
  emb_ln_b = w.tensor({prefix + "embeddings.LayerNorm.bias"}, {d});
  for (int i = 0; i < cfg.layers; ++i) {
    const std::string l = prefix + "encoder.layer." + std::to_string(i) + ".";
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
}

CrossKv BlipText::cross_alloc(Allocator& arena, int64_t batch, int64_t tokens) const {
  return cross_kv_alloc(arena, batch, tokens, layers.size(), cfg_.hidden,
                        layers.empty() ? DType::F32 : layers[0].cross_kv.dtype);
}

void BlipText::record_cross(Sequence& seq, const Tensor& states, const CrossKv& kv) const {
  const int64_t rows = kv.batch * kv.tokens;
  if (states.numel() != rows * cfg_.encoder_hidden)
    fail("BLIP text: encoder states ", states.describe(), " do not match batch ", kv.batch, " x ", kv.tokens,
         " tokens x encoder_hidden_size ", cfg_.encoder_hidden);
  const Tensor e = states.view(DType::F32, {rows, int64_t(cfg_.encoder_hidden)});
  for (size_t i = 0; i < layers.size(); ++i) {
    const Tensor out = kv.kv[i].view(kv.kv[i].dtype, {rows, 2 * int64_t(cfg_.hidden)});  // fp32 or fp16
    linear(seq, e, layers[i].cross_kv, out, {&layers[i].cross_kv_b});
  }
}

DecodeState BlipText::decode_alloc(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len,
                                   bool reorderable) const {
  if (max_len > cfg_.max_positions)
    fail("BLIP text: length ", max_len, " exceeds the model's ", cfg_.max_positions, " positions");
  return decode_state_alloc(arena, host, batch, max_len, cfg_.hidden, layers.size(), reorderable);
}

// Self-attention of layer i: the K/V it reads and what it records first to get them there.
struct BlipText::SelfAttention {
  DecodeState* st = nullptr;  // decoding: append to the cache, attend causally over it
  const DecodeState::Caches* caches = nullptr;
};

void BlipText::record_encode(Sequence& seq, Allocator& arena, const Tensor& ids, int64_t batch, int64_t tokens,
                             const CrossKv& cross, const Tensor& out) const {
  const int64_t rows = batch * tokens, d = cfg_.hidden;
  if (out.numel() != rows * d) fail("BLIP text: output ", out.describe(), " is not [", batch, ", ", tokens, ", ", d, "]");
  const Tensor x = out.view(DType::F32, {rows, d});
  embed_tokens(seq, ids, 0, uint32_t(batch), uint32_t(tokens), word_emb, &pos_emb, 0, nullptr, x);
  layer_norm(seq, x, nullptr, emb_ln_w, emb_ln_b, cfg_.eps, x);
  record_layers(seq, arena, x, batch, tokens, cross, SelfAttention{});
}

void BlipText::record_decode(Sequence& seq, Allocator& arena, DecodeState& st, const Tensor& ids, int64_t tokens,
                             const CrossKv& cross, const Tensor& x, int set, const Tensor* reorder) const {
  DecodeState::Caches& caches = st.caches[set];
  if (caches.k.empty()) fail("BLIP text: cache set ", set, " was not allocated (decode_alloc reorderable)");
  if (reorder) decode_state_reorder(seq, st, set, *reorder);  // beam search: continue the source beam
  // embeddings: words + positions from the cache length on, then LayerNorm
  embed_tokens(seq, ids, 0, uint32_t(st.batch), uint32_t(tokens), word_emb, &pos_emb, 0, &st.step, x);
  layer_norm(seq, x, nullptr, emb_ln_w, emb_ln_b, cfg_.eps, x);
  record_layers(seq, arena, x, st.batch, tokens, cross, SelfAttention{&st, &caches});
}

void BlipText::record_layers(Sequence& seq, Allocator& arena, const Tensor& x, int64_t b, int64_t tokens,
                             const CrossKv& cross, const SelfAttention& self) const {
  const int64_t d = cfg_.hidden, rows = b * tokens;
  if (cross.batch != b) fail("BLIP text: cross-attention K/V for batch ", cross.batch, ", pass of batch ", b);
  const uint32_t t = uint32_t(tokens), ud = uint32_t(d), heads = uint32_t(cfg_.heads), dh = ud / heads;
  Tensor tmp = arena.alloc(DType::F32, {rows, d});
  Tensor qkv = arena.alloc(DType::F32, {b, tokens, 3 * d});
  Tensor q = arena.alloc(DType::F32, {b, tokens, d});
  Tensor ctx = arena.alloc(DType::F32, {b, tokens, d});
  Tensor hidden = arena.alloc(DType::F32, {rows, int64_t(cfg_.intermediate)});
  for (size_t i = 0; i < layers.size(); ++i) {
    const BlipTextLayer& L = layers[i];
    // self-attention: x = LN(dense(attn) + x); causal over the cache when decoding
    linear(seq, x, L.qkv, qkv.view(DType::F32, {rows, 3 * d}), {&L.qkv_b});
    if (self.st) {
      cached_self_attention(seq, qkv, ctx, cfg_.heads, *self.st, *self.caches, i);
    } else {  // bidirectional over the pass's own tokens (docs/models/blip.md encoder mode)
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
    layer_norm(seq, tmp, &x, L.attn_ln_w, L.attn_ln_b, cfg_.eps, x);

    // cross-attention to the encoder states: x = LN(dense(attn) + x)
    linear(seq, x, L.cross_q, q.view(DType::F32, {rows, d}), {&L.cross_q_b});
    cross_attention(seq, q, ctx, cfg_.heads, cross, i);
    linear(seq, ctx.view(DType::F32, {rows, d}), L.cross_out, tmp, {&L.cross_out_b});
    layer_norm(seq, tmp, &x, L.cross_ln_w, L.cross_ln_b, cfg_.eps, x);

    // mlp: x = LN(output(gelu(intermediate(x))) + x)
    linear(seq, x, L.inter, hidden, {&L.inter_b, Activation::GeluErf});
    linear(seq, hidden, L.out, tmp, {&L.out_b});
    layer_norm(seq, tmp, &x, L.out_ln_w, L.out_ln_b, cfg_.eps, x);
  }
}

namespace {

// The LM head's decoder weight, tied to the word embeddings (either name may be stored:
// docs/checkpoints.md; the decoder's own copy is preferred when present). Loaded first so the
// embedding can share it.
TiedHead load_tied_head(WeightLoader& w, const BlipTextConfig& cfg) {
  const std::string name = w.find({"text_decoder.cls.predictions.decoder.weight",
                                   "text_decoder.bert.embeddings.word_embeddings.weight"},
                                  {cfg.vocab, cfg.hidden}).name;
  return {name, w.linear(name, cfg.vocab, cfg.hidden)};
}

}  // namespace

BlipTextDecoder::BlipTextDecoder(WeightLoader& w, const BlipTextConfig& cfg)
    : head_(load_tied_head(w, cfg)), body_(w, cfg, "text_decoder.bert.", &head_) {
  const int64_t d = cfg.hidden, v = cfg.vocab;
  const std::string head = "text_decoder.cls.predictions.";
  head_transform = w.linear(head + "transform.dense.weight", d, d);
  head_transform_b = w.tensor({head + "transform.dense.bias"}, {d});
  head_ln_w = w.tensor({head + "transform.LayerNorm.weight"}, {d});
  head_ln_b = w.tensor({head + "transform.LayerNorm.bias"}, {d});
  head_bias = w.tensor({head + "bias", head + "decoder.bias"}, {v});
}

DecoderTokens BlipTextDecoder::tokens() const {
  // BLIP stops at [SEP] (docs/models/blip.md)
  return {uint32_t(config().sep), uint32_t(config().pad), config().vocab};
}

void BlipTextDecoder::record_step(Sequence& seq, Allocator& arena, DecodeState& st, const Tensor& ids,
                                  int64_t tokens, const CrossKv& cross, const Tensor& logits, const Tensor& next,
                                  const Tensor& next_logit, int set, const Tensor* reorder) const {
  const int64_t b = st.batch, d = config().hidden;
  Tensor x = arena.alloc(DType::F32, {b * tokens, d});
  body_.record_decode(seq, arena, st, ids, tokens, cross, x, set, reorder);

  // LM head on each row's last position: LN(gelu(transform(h))) . decoder^T + bias
  Tensor last = arena.alloc(DType::F32, {b, 1, d});
  Tensor head = arena.alloc(DType::F32, {b, d});
  last_positions(seq, x, b, tokens, last);
  linear(seq, last.view(DType::F32, {b, d}), head_transform, head, {&head_transform_b, Activation::GeluErf});
  layer_norm(seq, head, nullptr, head_ln_w, head_ln_b, config().eps, head);
  linear(seq, head, head_.weight, logits, {&head_bias});
  argmax(seq, logits, next, next_logit);
}

}  // namespace glimpse
