#include "text/gpt2.hpp"

#include "runtime/error.hpp"

namespace glimpse {

Gpt2Decoder::Gpt2Decoder(WeightLoader& w, const Gpt2Config& cfg) : cfg_(cfg) {
  const int64_t d = cfg.hidden, v = cfg.vocab, ve = cfg.encoder_hidden, inner = cfg.inner ? cfg.inner : 4 * cfg.hidden;
  const std::string t = "decoder.transformer.";
  // Tied: only one of the two names may be stored (docs/checkpoints.md); accept either.
  const std::string head = w.find({"decoder.lm_head.weight", t + "wte.weight"}, {v, d}).name;
  lm_head = w.linear(head, v, d);
  wte = w.tied_table(t + "wte.weight", head, lm_head, {v, d});  // the head's rows when tied
  wpe = w.tensor({t + "wpe.weight"}, {cfg.positions, d});
  for (int i = 0; i < cfg.layers; ++i) {
    const std::string l = t + "h." + std::to_string(i) + ".";
    Gpt2Layer L;
    L.ln1_w = w.tensor({l + "ln_1.weight"}, {d});
    L.ln1_b = w.tensor({l + "ln_1.bias"}, {d});
    L.attn = w.linear(l + "attn.c_attn.weight", 3 * d, d, WeightLayout::InOut);
    L.attn_b = w.tensor({l + "attn.c_attn.bias"}, {3 * d});
    L.attn_proj = w.linear(l + "attn.c_proj.weight", d, d, WeightLayout::InOut);
    L.attn_proj_b = w.tensor({l + "attn.c_proj.bias"}, {d});
    L.lnx_w = w.tensor({l + "ln_cross_attn.weight"}, {d});
    L.lnx_b = w.tensor({l + "ln_cross_attn.bias"}, {d});
    L.cross_q = w.linear(l + "crossattention.q_attn.weight", d, d, WeightLayout::InOut);
    L.cross_q_b = w.tensor({l + "crossattention.q_attn.bias"}, {d});
    L.cross_kv = w.linear(l + "crossattention.c_attn.weight", 2 * d, ve, WeightLayout::InOut);
    L.cross_kv_b = w.tensor({l + "crossattention.c_attn.bias"}, {2 * d});
    L.cross_proj = w.linear(l + "crossattention.c_proj.weight", d, d, WeightLayout::InOut);
    L.cross_proj_b = w.tensor({l + "crossattention.c_proj.bias"}, {d});
    L.ln2_w = w.tensor({l + "ln_2.weight"}, {d});
    L.ln2_b = w.tensor({l + "ln_2.bias"}, {d});
    L.fc = w.linear(l + "mlp.c_fc.weight", inner, d, WeightLayout::InOut);
    L.fc_b = w.tensor({l + "mlp.c_fc.bias"}, {inner});
    L.proj = w.linear(l + "mlp.c_proj.weight", d, inner, WeightLayout::InOut);
    L.proj_b = w.tensor({l + "mlp.c_proj.bias"}, {d});
    layers.push_back(std::move(L));
  }
  lnf_w = w.tensor({t + "ln_f.weight"}, {d});
  lnf_b = w.tensor({t + "ln_f.bias"}, {d});
}

CrossKv Gpt2Decoder::cross_alloc(Allocator& arena, int64_t batch, int64_t tokens) const {
  return cross_kv_alloc(arena, batch, tokens, layers.size(), cfg_.hidden,
                        layers.empty() ? DType::F32 : layers[0].cross_kv.dtype);
}

void Gpt2Decoder::record_cross(Sequence& seq, const Tensor& states, const CrossKv& kv) const {
  const int64_t rows = kv.batch * kv.tokens;
  if (states.numel() != rows * cfg_.encoder_hidden)
    fail("GPT-2: encoder states ", states.describe(), " do not match batch ", kv.batch, " x ", kv.tokens, " x ",
         cfg_.encoder_hidden);
  const Tensor e = states.view(DType::F32, {rows, int64_t(cfg_.encoder_hidden)});
  for (size_t i = 0; i < layers.size(); ++i) {
    const Tensor out = kv.kv[i].view(kv.kv[i].dtype, {rows, 2 * int64_t(cfg_.hidden)});  // fp32 or fp16
    linear(seq, e, layers[i].cross_kv, out, {&layers[i].cross_kv_b});
  }
}

DecodeState Gpt2Decoder::decode_alloc(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len,
                                      bool reorderable) const {
  if (max_len > cfg_.positions) fail("GPT-2: length ", max_len, " exceeds the model's ", cfg_.positions, " positions");
  return decode_state_alloc(arena, host, batch, max_len, cfg_.hidden, layers.size(), reorderable);
}

void Gpt2Decoder::record_step(Sequence& seq, Allocator& arena, DecodeState& st, const Tensor& ids, int64_t tokens,
                              const CrossKv& cross, const Tensor& logits, const Tensor& next, const Tensor& next_logit,
                              int set, const Tensor* reorder) const {
  const int64_t b = st.batch, d = cfg_.hidden, rows = b * tokens;
  const int64_t inner = cfg_.inner ? cfg_.inner : 4 * cfg_.hidden;
  const uint32_t t = uint32_t(tokens);
  DecodeState::Caches& caches = st.caches[set];
  if (caches.k.empty()) fail("GPT-2: cache set ", set, " was not allocated (decode_alloc reorderable)");
  if (reorder) decode_state_reorder(seq, st, set, *reorder);  // beam search: continue the source beam

  Tensor x = arena.alloc(DType::F32, {rows, d});
  Tensor y = arena.alloc(DType::F32, {rows, d});
  Tensor qkv = arena.alloc(DType::F32, {b, tokens, 3 * d});
  Tensor q = arena.alloc(DType::F32, {b, tokens, d});
  Tensor ctx = arena.alloc(DType::F32, {b, tokens, d});
  Tensor hidden = arena.alloc(DType::F32, {rows, inner});
  // h = wte[id] + wpe[past + t] (no embedding LayerNorm in GPT-2)
  embed_tokens(seq, ids, 0, uint32_t(b), t, wte, &wpe, 0, &st.step, x);
  for (size_t i = 0; i < layers.size(); ++i) {
    const Gpt2Layer& L = layers[i];
    // self-attention, causal over the cache: h += c_proj(attn(c_attn(ln_1(h))))
    layer_norm(seq, x, nullptr, L.ln1_w, L.ln1_b, cfg_.eps, y);
    linear(seq, y, L.attn, qkv.view(DType::F32, {rows, 3 * d}), {&L.attn_b});
    cached_self_attention(seq, qkv, ctx, cfg_.heads, st, caches, i);
    linear(seq, ctx.view(DType::F32, {rows, d}), L.attn_proj, x, {&L.attn_proj_b, Activation::None, &x});

    // cross-attention to the encoder states: h += c_proj(attn(q_attn(ln_cross_attn(h)), k|v))
    layer_norm(seq, x, nullptr, L.lnx_w, L.lnx_b, cfg_.eps, y);
    linear(seq, y, L.cross_q, q.view(DType::F32, {rows, d}), {&L.cross_q_b});
    cross_attention(seq, q, ctx, cfg_.heads, cross, i);
    linear(seq, ctx.view(DType::F32, {rows, d}), L.cross_proj, x, {&L.cross_proj_b, Activation::None, &x});

    // mlp: h += c_proj(gelu_new(c_fc(ln_2(h))))
    layer_norm(seq, x, nullptr, L.ln2_w, L.ln2_b, cfg_.eps, y);
    linear(seq, y, L.fc, hidden, {&L.fc_b, Activation::GeluTanh});
    linear(seq, hidden, L.proj, x, {&L.proj_b, Activation::None, &x});
  }
  // logits of each row's last position: ln_f(h) . wte^T
  Tensor last = arena.alloc(DType::F32, {b, 1, d});
  last_positions(seq, x, b, tokens, last);
  const Tensor lr = last.view(DType::F32, {b, d});
  layer_norm(seq, lr, nullptr, lnf_w, lnf_b, cfg_.eps, lr);
  linear(seq, lr, lm_head, logits);
  argmax(seq, logits, next, next_logit);
}

}  // namespace glimpse
