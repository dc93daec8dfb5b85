#include "text/bart-decoder.hpp"

#include "runtime/device.hpp"
#include "runtime/error.hpp"

#include <cmath>

namespace glimpse {

std::vector<float> trocr_sinusoids(int64_t rows, int64_t dim, int64_t pad) {
  // modeling_trocr.py TrOCRSinusoidalPositionalEmbedding.get_embedding: frequencies
  // exp(-i * log(10000) / (half - 1)), in fp32 (the Python scalar meets an fp32 tensor).
  const int64_t half = dim / 2;
  if (half < 2) fail("TrOCR: sinusoidal positions need d_model >= 4, found ", dim);
  const float step = float(std::log(10000.0) / double(half - 1));
  std::vector<float> freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) freq[size_t(i)] = std::exp(float(i) * -step);
  std::vector<float> t(static_cast<size_t>(rows * dim), 0.0f);
  for (int64_t p = 0; p < rows; ++p) {
    if (p == pad) continue;  // the padding row stays zero
    for (int64_t i = 0; i < half; ++i) {
      const float a = float(p) * freq[size_t(i)];
      t[size_t(p * dim + i)] = std::sin(a);
      t[size_t(p * dim + half + i)] = std::cos(a);
    }
  }
  return t;
}

namespace {
const PostLnNames kBartNames = {"self_attn.q_proj",    "self_attn.k_proj",       "self_attn.v_proj",
                                "self_attn.out_proj",  "self_attn_layer_norm",   "encoder_attn.q_proj",
                                "encoder_attn.k_proj", "encoder_attn.v_proj",    "encoder_attn.out_proj",
                                "encoder_attn_layer_norm", "fc1", "fc2", "final_layer_norm"};
}  // namespace

BartDecoder::BartDecoder(WeightLoader& w, const BartDecoderConfig& cfg, const BartDecoderNames& names)
    : cfg_(cfg), who_(names.who) {
  const int64_t d = cfg.hidden, v = cfg.vocab, ve = cfg.encoder_width(), f = cfg.ffn;
  const std::string& m = names.prefix;
  const std::string& emb = names.embed;
  const std::string& proj = names.head;
  if (cfg.tie_word_embeddings) {  // either name may be stored; one copy serves both
    const std::string head = w.find({proj, emb}, {v, d}).name;
    head_ = w.linear(head, v, d);
    embed_ = w.tied_table(emb, head, head_, {v, d});
  } else {
    head_ = w.linear(proj, v, d);
    embed_ = w.tensor({emb}, {v, d});
  }
  if (cfg.learned_positions) {
    pos_ = w.tensor({m + "embed_positions.weight"}, {cfg.max_positions + 2, d});
  } else {  // computed, as the model does (only a `_float_tensor` buffer is stored)
    const int64_t rows = int64_t(cfg.max_positions) + cfg.pad + 1;
    const std::vector<float> table = trocr_sinusoids(rows, d, cfg.pad);
    pos_ = w.arena().alloc(DType::F32, {rows, d});
    tensor_upload(w.context(), pos_, table.data(), table.size() * sizeof(float));
  }
  // Learned positions are rows past + t + 2 (TrOCRLearnedPositionalEmbedding's offset); sinusoids
  // are numbered from pad + 1 around pad tokens (create_position_ids_from_input_ids).
  if (cfg.scale_embedding) embed_opt_.scale = float(std::sqrt(double(d)));  // math.sqrt(hidden_size), a Python float
  if (!cfg.learned_positions) {
    embed_opt_.pad_id = uint32_t(cfg.pad);
    pos0_ = uint32_t(cfg.pad) + 1;
  }
  if (cfg.layernorm_embedding) {
    emb_ln_w = w.tensor({m + "layernorm_embedding.weight"}, {d});
    emb_ln_b = w.tensor({m + "layernorm_embedding.bias"}, {d});
  }
  if (!names.logits_bias.empty() && w.find_optional(names.logits_bias, {1, v}))
    logits_bias_ = w.tensor({names.logits_bias}, {1, v}, {v});
  for (int i = 0; i < cfg.layers; ++i)
    layers_.push_back(post_ln_layer_load(w, m + "layers." + std::to_string(i) + ".", kBartNames, d, f, ve));
}

CrossKv BartDecoder::cross_alloc(Allocator& arena, int64_t batch, int64_t tokens) const {
  return cross_kv_alloc(arena, batch, tokens, layers_.size(), cfg_.hidden,
                        layers_.empty() ? DType::F32 : layers_[0].cross_kv.dtype);
}

void BartDecoder::record_cross(Sequence& seq, const Tensor& states, const CrossKv& kv) const {
  post_ln_cross_record(seq, layers_, states, kv, cfg_.hidden, cfg_.encoder_width(), who_.c_str());
}

DecodeState BartDecoder::decode_alloc(Allocator& arena, Allocator& host, int64_t batch, int64_t max_len,
                                       bool reorderable) const {
  if (max_len > positions()) fail(who_, ": length ", max_len, " exceeds the model's ", positions(), " positions");
  return decode_state_alloc(arena, host, batch, max_len, cfg_.hidden, layers_.size(), reorderable);
}

void BartDecoder::record_step(Sequence& seq, Allocator& arena, DecodeState& st, const Tensor& ids, int64_t tokens,
                               const CrossKv& cross, const Tensor& logits, const Tensor& next, const Tensor& next_logit,
                               int set, const Tensor* reorder) const {
  const int64_t b = st.batch, d = cfg_.hidden, rows = b * tokens;
  DecodeState::Caches& caches = st.caches[set];
  if (caches.k.empty()) fail(who_, ": cache set ", set, " was not allocated (decode_alloc reorderable)");
  if (reorder) decode_state_reorder(seq, st, set, *reorder);  // beam search: continue the source beam

  Tensor x = arena.alloc(DType::F32, {rows, d});
  // x = embed_tokens[id] * scale + positions, then layernorm_embedding
  embed_tokens(seq, ids, 0, uint32_t(b), uint32_t(tokens), embed_, &pos_, pos0_, &st.step, x, embed_opt_);
  if (cfg_.layernorm_embedding) layer_norm(seq, x, nullptr, emb_ln_w, emb_ln_b, cfg_.eps, x);

  PostLnPass pass;  // post-LN layers, causal over the cache (TrOCRDecoderLayer)
  pass.heads = cfg_.heads;
  pass.eps = cfg_.eps;
  pass.act = cfg_.act;
  pass.st = &st;
  pass.caches = &caches;
  post_ln_layers_record(seq, arena, layers_, x, b, tokens, cross, pass);
  // logits of each row's last position: x . output_projection^T (+ final_logits_bias; no final
  // LayerNorm)
  Tensor last = arena.alloc(DType::F32, {b, 1, d});
  last_positions(seq, x, b, tokens, last);
  linear(seq, last.view(DType::F32, {b, d}), head_, logits, {logits_bias_.buffer ? &logits_bias_ : nullptr});
  argmax(seq, logits, next, next_logit);
}

}  // namespace glimpse
