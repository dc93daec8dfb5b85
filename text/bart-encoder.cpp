#include "text/bart-encoder.hpp"

#include "runtime/device.hpp"
#include "runtime/error.hpp"

namespace glimpse {

namespace {
const PostLnNames kBartEncoderNames = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                                       "self_attn_layer_norm", nullptr, nullptr, nullptr, nullptr, nullptr,
                                       "fc1", "fc2", "final_layer_norm"};
}  // namespace

BartEncoder::BartEncoder(WeightLoader& w, const BartEncoderConfig& cfg, const std::string& prefix, std::string who)
    : cfg_(cfg), who_(std::move(who)) {
  const int64_t d = cfg.hidden;
  pos_ = w.tensor({prefix + "embed_positions.weight"}, {int64_t(cfg.max_positions) + 2, d});
  emb_ln_w_ = w.tensor({prefix + "layernorm_embedding.weight"}, {d});
  emb_ln_b_ = w.tensor({prefix + "layernorm_embedding.bias"}, {d});
  for (int i = 0; i < cfg.layers; ++i)
    layers_.push_back(post_ln_layer_load(w, prefix + "layers." + std::to_string(i) + ".", kBartEncoderNames, d, cfg.ffn, d));
}

void BartEncoder::record(Sequence& seq, Allocator& arena, const Tensor& prefix, const Tensor& table,
                         const std::vector<uint32_t>& ids, const Tensor& out) const {
  const int64_t d = cfg_.hidden;
  if (prefix.rank() != 3 || prefix.dim(2) != d)
    fail(who_, ": the encoder's prefix rows must be [B, N, ", d, "], found ", prefix.describe());
  const int64_t b = prefix.dim(0), n = prefix.dim(1), t = int64_t(ids.size()), all = n + t;
  if (all > cfg_.max_positions)
    fail(ErrorCode::InvalidArgument, who_, ": ", n, " image tokens and a prompt of ", t, " tokens exceed the encoder's ",
         cfg_.max_positions, " positions (the prompt may hold at most ", cfg_.max_positions - n, " tokens)");
  if (out.numel() != b * all * d) fail(who_, ": encoder output must be [", b, ", ", all, ", ", d, "], found ", out.describe());
  const Tensor x = out.view(DType::F32, {b, all, d});
  // [prefix; token rows], each sequence assembled in place
  KvAppendArgs place;
  place.batch = uint32_t(b);
  place.dim = uint32_t(d);
  place.cache = &x;
  place.max_t = uint32_t(all);
  place.tokens = uint32_t(n);
  place.src = AttnView::dense(prefix, uint32_t(n), uint32_t(d));
  kv_append(seq, place);
  if (t > 0) {
    std::vector<uint32_t> tiled;
    for (int64_t i = 0; i < b; ++i) tiled.insert(tiled.end(), ids.begin(), ids.end());
    Tensor id_t = arena.alloc(DType::U32, {b * t});
    tensor_upload(arena.context(), id_t, tiled.data(), tiled.size() * 4);
    Tensor rows = arena.alloc(DType::F32, {b, t, d});
    embed_tokens(seq, id_t, 0, uint32_t(b), uint32_t(t), table, nullptr, 0, nullptr, rows);
    place.tokens = uint32_t(t);
    place.pos0 = uint32_t(n);
    place.src = AttnView::dense(rows, uint32_t(t), uint32_t(d));
    kv_append(seq, place);
  }
  // learned positions 2 .. 2 + N + T - 1 (Florence2LearnedPositionalEmbedding's offset), then
  // layernorm_embedding
  add_positions(seq, x, pos_, 2, x);
  const Tensor rows2d = x.view(DType::F32, {b * all, d});
  layer_norm(seq, rows2d, nullptr, emb_ln_w_, emb_ln_b_, cfg_.eps, rows2d);
  PostLnPass pass;  // bidirectional over the whole sequence, no mask
  pass.heads = cfg_.heads;
  pass.eps = cfg_.eps;
  pass.act = cfg_.act;
  post_ln_layers_record(seq, arena, layers_, rows2d, b, all, CrossKv{}, pass);
}

}  // namespace glimpse
