#include "text/blip-text.hpp"

#include "runtime/error.hpp"

namespace glimpse {

namespace {
const PostLnNames kBertNames = {"attention.self.query",      "attention.self.key",         "attention.self.value",
                                "attention.output.dense",    "attention.output.LayerNorm", "crossattention.self.query",
                                "crossattention.self.key",   "crossattention.self.value",  "crossattention.output.dense",
                                "crossattention.output.LayerNorm", "intermediate.dense",   "output.dense",
                                "output.LayerNorm"};
}  // namespace

BlipText::BlipText(WeightLoader& w, const BlipTextConfig& cfg, const std::string& prefix, const TiedHead* head)
    : cfg_(cfg) {
  const int64_t d = cfg.hidden, v = cfg.vocab, ve = cfg.encoder_hidden, inter = cfg.intermediate;
  const std::string emb = prefix + "embeddings.word_embeddings.weight";
  word_emb = head ? w.tied_table(emb, head->name, head->weight, {v, d}) : w.tensor({emb}, {v, d});
  pos_emb = w.tensor({prefix + "embeddings.position_embeddings.weight"}, {cfg.max_positions, d});
  emb_ln_w = w.tensor({prefix + "embeddings.LayerNorm.weight"}, {d});
  emb_ln_b = w.tensor({prefix + "embeddings.LayerNorm.bias"}, {d});
  for (int i = 0; i < cfg.layers; ++i)
    layers.push_back(post_ln_layer_load(w, prefix + "encoder.layer." + std::to_string(i) + ".", kBertNames, d, inter, ve));
}

CrossKv BlipText::cross_alloc(Allocator& arena, int64_t batch, int64_t tokens) const {
  return cross_kv_alloc(arena, batch, tokens, layers.size(), cfg_.hidden,
                        layers.empty() ? DType::F32 : layers[0].cross_kv.dtype);
}

void BlipText::record_cross(Sequence& seq, const Tensor& states, const CrossKv& kv) const {
  post_ln_cross_record(seq, layers, states, kv, cfg_.hidden, cfg_.encoder_hidden, "BLIP text");
}

DecodeState BlipText::decode_alloc(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len,
                                   bool reorderable) const {
  if (max_len > cfg_.max_positions)
    fail("BLIP text: length ", max_len, " exceeds the model's ", cfg_.max_positions, " positions");
  return decode_state_alloc(arena, host, batch, max_len, cfg_.hidden, layers.size(), reorderable);
}

void BlipText::record_encode(Sequence& seq, Allocator& arena, const Tensor& ids, int64_t batch, int64_t tokens,
                             const CrossKv& cross, const Tensor& out) const {
  const int64_t rows = batch * tokens, d = cfg_.hidden;
  if (out.numel() != rows * d) fail("BLIP text: output ", out.describe(), " is not [", batch, ", ", tokens, ", ", d, "]");
  const Tensor x = out.view(DType::F32, {rows, d});
  embed_tokens(seq, ids, 0, uint32_t(batch), uint32_t(tokens), word_emb, &pos_emb, 0, nullptr, x);
  layer_norm(seq, x, nullptr, emb_ln_w, emb_ln_b, cfg_.eps, x);
  PostLnPass pass;  // bidirectional (docs/models/blip.md encoder mode)
  pass.heads = cfg_.heads;
  pass.eps = cfg_.eps;
  post_ln_layers_record(seq, arena, layers, x, batch, tokens, cross, pass);
}

void BlipText::record_decode(Sequence& seq, Allocator& arena, DecodeState& st, const Tensor& ids, int64_t tokens,
                             const CrossKv& cross, const Tensor& x, int set, const Tensor* reorder) const {
  DecodeState::Caches& caches = st.caches[set];
  if (caches.k.empty()) fail("BLIP text: cache set ", set, " was not allocated (decode_alloc reorderable)");
  if (reorder) decode_state_reorder(seq, st, set, *reorder);  // beam search: continue the source beam
  // embeddings: words + positions from the cache length on, then LayerNorm
  embed_tokens(seq, ids, 0, uint32_t(st.batch), uint32_t(tokens), word_emb, &pos_emb, 0, &st.step, x);
  layer_norm(seq, x, nullptr, emb_ln_w, emb_ln_b, cfg_.eps, x);
  PostLnPass pass;
  pass.heads = cfg_.heads;
  pass.eps = cfg_.eps;
  pass.st = &st;
  pass.caches = &caches;
  post_ln_layers_record(seq, arena, layers, x, st.batch, tokens, cross, pass);
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
