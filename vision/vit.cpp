#include "vision/vit.hpp"

#include "runtime/error.hpp"

namespace glimpse {

VitEncoder::VitEncoder(WeightLoader& w, const VitConfig& cfg, VitLayout layout, const std::string& prefix)
    : cfg_(cfg) {
  const int64_t d = cfg.hidden, n = cfg.tokens(), p = cfg.patch, c = cfg.channels, inter = cfg.intermediate;
  const bool blip = layout == VitLayout::Blip;
  const std::string e = prefix + "embeddings.";
  const std::string patch = e + (blip ? "patch_embedding." : "patch_embeddings.projection.");
  // The conv weight [D, 3, P, P] is already the [D, 3*P*P] matrix im2col patches multiply.
  patch_w = w.linear_as(patch + "weight", {d, c, p, p}, d, c * p * p);
  patch_b = w.tensor({patch + "bias"}, {d});
  if (cfg.prefix_tokens == 1) {
    cls = w.tensor({e + (blip ? "class_embedding" : "cls_token")}, {1, 1, d}, {1, d});
  } else if (cfg.prefix_tokens == 2 && !blip) {  // DeiT: class, then distillation token
    cls = w.concat({e + "cls_token", e + "distillation_token"}, {{1, 1, d}, {1, 1, d}}, {2, d});
  } else {
    fail("vision encoder: ", cfg.prefix_tokens, " prefix tokens are not supported in this layout");
  }
  pos = w.tensor({e + (blip ? "position_embedding" : "position_embeddings")}, {1, n, d}, {n, d});
  for (int i = 0; i < cfg.layers; ++i) {
    const std::string l = prefix + (blip ? "encoder.layers." : "encoder.layer.") + std::to_string(i) + ".";
    VitLayer L;
    const std::string ln1 = l + (blip ? "layer_norm1." : "layernorm_before."), ln2 = l + (blip ? "layer_norm2." : "layernorm_after.");
    L.ln1_w = w.tensor({ln1 + "weight"}, {d});
    L.ln1_b = w.tensor({ln1 + "bias"}, {d});
    if (blip) {
      L.qkv = w.linear(l + "self_attn.qkv.weight", 3 * d, d);
      if (cfg.qkv_bias) L.qkv_b = w.tensor({l + "self_attn.qkv.bias"}, {3 * d});
    } else {
      const std::string a = l + "attention.attention.";
      L.qkv = w.linear_stack({a + "query.weight", a + "key.weight", a + "value.weight"}, {d, d, d}, d);
      if (cfg.qkv_bias) L.qkv_b = w.vector_concat({a + "query.bias", a + "key.bias", a + "value.bias"}, {d, d, d});
    }
    const std::string proj = l + (blip ? "self_attn.projection." : "attention.output.dense.");
    L.proj = w.linear(proj + "weight", d, d);
    L.proj_b = w.tensor({proj + "bias"}, {d});
    L.ln2_w = w.tensor({ln2 + "weight"}, {d});
    L.ln2_b = w.tensor({ln2 + "bias"}, {d});
    const std::string fc1 = l + (blip ? "mlp.fc1." : "intermediate.dense."), fc2 = l + (blip ? "mlp.fc2." : "output.dense.");
    L.fc1 = w.linear(fc1 + "weight", inter, d);
    L.fc1_b = w.tensor({fc1 + "bias"}, {inter});
    L.fc2 = w.linear(fc2 + "weight", d, inter);
    L.fc2_b = w.tensor({fc2 + "bias"}, {d});
    layers.push_back(std::move(L));
  }
  const std::string post = prefix + (blip ? "post_layernorm." : "layernorm.");
  post_w = w.tensor({post + "weight"}, {d});
  post_b = w.tensor({post + "bias"}, {d});
}

void VitEncoder::record(Sequence& seq, Allocator& arena, const Tensor& pixel_values, const Tensor& embeds) const {
  const int64_t b = pixel_values.dim(0), d = cfg_.hidden, n = cfg_.tokens(), p = cfg_.patch;
  if (pixel_values.rank() != 4 || pixel_values.dim(1) != cfg_.channels || pixel_values.dim(2) != cfg_.image_size ||
      pixel_values.dim(3) != cfg_.image_size)
    fail("vision encoder: pixel_values must be [B, ", cfg_.channels, ", ", cfg_.image_size, ", ", cfg_.image_size,
         "], found ", pixel_values.describe());
  const int64_t rows = b * n, np = n - cfg_.prefix_tokens, c = cfg_.channels;
  // embeddings: patches (row-major grid), prefix tokens first, positions added
  Tensor cols = arena.alloc(DType::F32, {b * np, c * p * p});
  Tensor patches = arena.alloc(DType::F32, {b, np, d});
  Tensor x = arena.alloc(DType::F32, {b, n, d});
  patch_embed(seq, pixel_values, uint32_t(p), patch_w, &patch_b, cols, patches);
  class_prepend(seq, patches, cls, pos, x);
  seq.dump("vision.embeddings", x);

  Tensor y = arena.alloc(DType::F32, {rows, d});
  Tensor qkv = arena.alloc(DType::F32, {b, n, 3 * d});
  Tensor ctx = arena.alloc(DType::F32, {b, n, d});
  Tensor hidden = arena.alloc(DType::F32, {rows, int64_t(cfg_.intermediate)});
  const Tensor xr = x.view(DType::F32, {rows, d});
  const uint32_t w3 = uint32_t(3 * d), bs = uint32_t(n) * w3;
  AttentionArgs a;
  a.batch = uint32_t(b);
  a.heads = uint32_t(cfg_.heads);
  a.head_dim = uint32_t(d / cfg_.heads);
  a.q_len = a.kv_len = uint32_t(n);
  a.q = {&qkv, 0, w3, bs};
  a.k = {&qkv, uint32_t(d), w3, bs};
  a.v = {&qkv, uint32_t(2 * d), w3, bs};
  a.o = AttnView::dense(ctx, uint32_t(n), uint32_t(d));
  a.fp16 = !layers.empty() && layers[0].qkv.dtype == DType::F16;  // tensor cores may round Q, K, V
  for (size_t i = 0; i < layers.size(); ++i) {
    const VitLayer& L = layers[i];
    // self-attention (pre-LN): x += projection(attn(qkv(layer_norm1(x))))
    layer_norm(seq, xr, nullptr, L.ln1_w, L.ln1_b, cfg_.eps, y);
    linear(seq, y, L.qkv, qkv.view(DType::F32, {rows, 3 * d}), {L.qkv_b.buffer ? &L.qkv_b : nullptr});
    attention(seq, a);
    linear(seq, ctx.view(DType::F32, {rows, d}), L.proj, xr, {&L.proj_b, Activation::None, &xr});
    // mlp: x += fc2(gelu(fc1(layer_norm2(x))))
    layer_norm(seq, xr, nullptr, L.ln2_w, L.ln2_b, cfg_.eps, y);
    linear(seq, y, L.fc1, hidden, {&L.fc1_b, cfg_.act});
    linear(seq, hidden, L.fc2, xr, {&L.fc2_b, Activation::None, &xr});
    seq.dump("vision.layer" + std::to_string(i), x);
  }
  // the final LayerNorm over all tokens: what the text side cross-attends to
  layer_norm(seq, xr, nullptr, post_w, post_b, cfg_.eps, embeds.view(DType::F32, {rows, d}));
}

}  // namespace glimpse
