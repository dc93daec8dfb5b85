#include "vision/davit.hpp"

#include "runtime/error.hpp"

#include <cmath>

namespace glimpse {

namespace {

DavitBlockHalf load_half(WeightLoader& w, const std::string& p, const char* attn, int64_t c) {
  DavitBlockHalf h;
  h.conv1_w = w.tensor({p + "conv1.fn.dw.weight"}, {c, 1, 3, 3}, {c, 9});
  h.conv1_b = w.tensor({p + "conv1.fn.dw.bias"}, {c});
  const std::string a = p + attn + ".";
  h.norm1_w = w.tensor({a + "norm.weight"}, {c});
  h.norm1_b = w.tensor({a + "norm.bias"}, {c});
  h.qkv = w.linear(a + "fn.qkv.weight", 3 * c, c);
  h.qkv_b = w.tensor({a + "fn.qkv.bias"}, {3 * c});
  h.proj = w.linear(a + "fn.proj.weight", c, c);
  h.proj_b = w.tensor({a + "fn.proj.bias"}, {c});
  h.conv2_w = w.tensor({p + "conv2.fn.dw.weight"}, {c, 1, 3, 3}, {c, 9});
  h.conv2_b = w.tensor({p + "conv2.fn.dw.bias"}, {c});
  h.norm2_w = w.tensor({p + "ffn.norm.weight"}, {c});
  h.norm2_b = w.tensor({p + "ffn.norm.bias"}, {c});
  h.fc1 = w.linear(p + "ffn.fn.net.fc1.weight", 4 * c, c);
  h.fc1_b = w.tensor({p + "ffn.fn.net.fc1.bias"}, {4 * c});
  h.fc2 = w.linear(p + "ffn.fn.net.fc2.weight", c, 4 * c);
  h.fc2_b = w.tensor({p + "ffn.fn.net.fc2.bias"}, {c});
  return h;
}

}  // namespace

DavitEncoder::DavitEncoder(WeightLoader& w, const DavitConfig& cfg) : cfg_(cfg) {
  for (size_t i = 0; i < cfg.stages.size(); ++i) {
    const DavitStage& st = cfg.stages[i];
    const int64_t d = st.dim, cin = i == 0 ? 3 : cfg.stages[i - 1].dim, k = st.patch;
    const std::string c = "vision_tower.convs." + std::to_string(i) + ".";
    DavitStageWeights s;
    s.conv_w = w.linear_as(c + "proj.weight", {d, cin, k, k}, d, cin * k * k);
    s.conv_b = w.tensor({c + "proj.bias"}, {d});
    // ConvEmbed: prenorm normalises the incoming tokens (not an image: stage 0's prenorm norm is
    // never applied); otherwise the LayerNorm follows the conv.
    if (!st.prenorm || i > 0) {
      const int64_t nd = st.prenorm ? cin : d;
      s.norm_w = w.tensor({c + "norm.weight"}, {nd});
      s.norm_b = w.tensor({c + "norm.bias"}, {nd});
    }
    for (int j = 0; j < st.depth; ++j) {
      const std::string b = "vision_tower.blocks." + std::to_string(i) + "." + std::to_string(j) + ".";
      s.spatial.push_back(load_half(w, b + "spatial_block.", "window_attn", d));
      s.channel.push_back(load_half(w, b + "channel_block.", "channel_attn", d));
    }
    stages_.push_back(std::move(s));
  }
  const int64_t d = cfg.dim_out(), p = cfg.projection_dim, side = cfg.grid(cfg.stages.size() - 1);
  projection_ = w.linear("image_projection", p, d, WeightLayout::InOut);
  proj_norm_w_ = w.tensor({"image_proj_norm.weight"}, {p});
  proj_norm_b_ = w.tensor({"image_proj_norm.bias"}, {p});
  // LearnedAbsolutePositionEmbedding2D: channel c < D - D/2 is the column's embedding, the rest the
  // row's; PositionalEmbeddingCosine1D row 0 (sin 0 on even channels, cos 0 on odd ones) for the
  // single frame, read from the checkpoint's buffer where it is stored.
  const int64_t dc = d - d / 2, dr = d / 2;
  const auto cols = w.host_values("image_pos_embed.column_embeddings.weight", {cfg.max_pos, dc});
  const auto rows = w.host_values("image_pos_embed.row_embeddings.weight", {cfg.max_pos, dr});
  const char* temporal_name = "visual_temporal_embed.pos_idx_to_embed";
  std::vector<float> temporal(static_cast<size_t>(d));
  if (w.find_optional(temporal_name, {cfg.max_temporal, d})) {
    const auto all = w.host_values(temporal_name, {cfg.max_temporal, d});
    std::copy(all.begin(), all.begin() + d, temporal.begin());
  } else {
    for (int64_t c = 0; c < d; ++c) temporal[size_t(c)] = c % 2 ? 1.0f : 0.0f;
  }
  std::vector<float> pos(size_t((side * side + 1) * d), 0.0f);
  for (int64_t y = 0; y < side; ++y)
    for (int64_t x = 0; x < side; ++x) {
      float* row = pos.data() + (1 + y * side + x) * d;
      for (int64_t c = 0; c < d; ++c)
        row[c] = (c < dc ? cols[size_t(x * dc + c)] : rows[size_t(y * dr + c - dc)]) + temporal[size_t(c)];
    }
  Context& ctx = w.context();
  positions_ = w.arena().alloc(DType::F32, {side * side + 1, d});
  tensor_upload(ctx, positions_, pos.data(), pos.size() * 4);
  zero_token_ = w.arena().alloc(DType::F32, {1, d});
  const std::vector<float> zeros(size_t(d), 0.0f);
  tensor_upload(ctx, zero_token_, zeros.data(), zeros.size() * 4);
}

// Buffers one pass reuses across stages, each as large as its largest use.
struct DavitScratch {
  Tensor cur, other;  // the residual stream; a depthwise conv writes the other one, then they swap
  Tensor y;           // LayerNorm output; the window attention's result back in grid order
  Tensor win;         // the windows (zero rows for the padding); then the projected windows
  Tensor big;         // qkv, the MLP's hidden layer, the conv's im2col rows
  Tensor ctx;         // attention output
  Tensor scores;      // channel attention scratch
  Tensor part, back;  // window partition / reverse indices of the current stage
};

void DavitEncoder::block_half(Sequence& seq, const DavitBlockHalf& h, const DavitStage& st, int64_t batch, int side,
                              bool window, DavitScratch& s) const {
  const int64_t c = st.dim, n = int64_t(side) * side, rows = batch * n;
  Conv2dShape dw;
  dw.batch = batch, dw.channels = c, dw.height = dw.width = side, dw.kernel = 3, dw.stride = 1, dw.padding = 1;
  dw.channels_last = true;
  const auto conv = [&](const Tensor& wt, const Tensor& b) {
    depthwise_conv(seq, s.cur.view(DType::F32, {batch, n, c}), dw, wt, b, true, s.other.view(DType::F32, {batch, n, c}));
    std::swap(s.cur, s.other);
  };
  conv(h.conv1_w, h.conv1_b);
  const Tensor xr = s.cur.view(DType::F32, {rows, c});
  const Tensor y = s.y.view(DType::F32, {rows, c});
  layer_norm(seq, xr, nullptr, h.norm1_w, h.norm1_b, cfg_.eps, y);
  if (window) {
    // Windows of ws x ws over the grid zero-padded at the bottom and right: the padding's rows are
    // zero LayerNorm outputs, so their q, k, v are the biases, and every window attends over all of
    // its ws^2 rows (WindowAttention: no mask).
    const int64_t ws = cfg_.window, per = (side + ws - 1) / ws, wrows = batch * per * per * ws * ws;
    const Tensor win = s.win.view(DType::F32, {wrows, c});
    gather_rows(seq, y, s.part, win);
    const Tensor qkv = s.big.view(DType::F32, {wrows, 3 * c});
    linear(seq, win, h.qkv, qkv, {&h.qkv_b});
    AttentionArgs a;
    a.batch = uint32_t(batch * per * per);
    a.heads = uint32_t(st.heads);
    a.head_dim = uint32_t(c / st.heads);
    a.q_len = a.kv_len = uint32_t(ws * ws);
    const uint32_t w3 = uint32_t(3 * c), bs = uint32_t(ws * ws) * w3;
    a.q = {&s.big, 0, w3, bs};
    a.k = {&s.big, uint32_t(c), w3, bs};
    a.v = {&s.big, uint32_t(2 * c), w3, bs};
    const Tensor out = s.ctx.view(DType::F32, {wrows, c});
    a.o = AttnView::dense(s.ctx, uint32_t(ws * ws), uint32_t(c));
    a.fp16 = h.qkv.dtype == DType::F16;
    attention(seq, a);
    linear(seq, out, h.proj, win, {&h.proj_b});
    gather_rows(seq, win, s.back, y);
    add(seq, xr, y, xr);
  } else {
    const Tensor qkv = s.big.view(DType::F32, {rows, 3 * c});
    linear(seq, y, h.qkv, qkv, {&h.qkv_b});
    // ChannelAttention: q scaled by N^-0.5, N the stage's tokens per image.
    channel_attention(seq, qkv, uint32_t(batch), uint32_t(n), uint32_t(c), uint32_t(st.groups),
                      float(std::pow(double(n), -0.5)), s.scores, s.ctx.view(DType::F32, {rows, c}));
    linear(seq, s.ctx.view(DType::F32, {rows, c}), h.proj, xr, {&h.proj_b, Activation::None, &xr});
  }
  conv(h.conv2_w, h.conv2_b);
  const Tensor xf = s.cur.view(DType::F32, {rows, c});
  layer_norm(seq, xf, nullptr, h.norm2_w, h.norm2_b, cfg_.eps, y);
  const Tensor hidden = s.big.view(DType::F32, {rows, 4 * c});
  linear(seq, y, h.fc1, hidden, {&h.fc1_b, Activation::GeluErf});
  linear(seq, hidden, h.fc2, xf, {&h.fc2_b, Activation::None, &xf});
}

void DavitEncoder::record(Sequence& seq, Allocator& arena, const Tensor& pixel_values, const Tensor& features) const {
  const int64_t b = pixel_values.dim(0), size = cfg_.image_size;
  if (pixel_values.rank() != 4 || pixel_values.dim(1) != 3 || pixel_values.dim(2) != size || pixel_values.dim(3) != size)
    fail("DaViT encoder: pixel_values must be [B, 3, ", size, ", ", size, "], found ", pixel_values.describe());
  const int64_t p = cfg_.projection_dim, t = cfg_.image_tokens();
  if (features.numel() != b * t * p)
    fail("DaViT encoder: features must be [", b, ", ", t, ", ", p, "], found ", features.describe());
  // Each buffer as large as its largest use over the stages.
  int64_t stream = 0, windows = 0, big = 0, scores = 0;
  for (size_t i = 0; i < cfg_.stages.size(); ++i) {
    const DavitStage& st = cfg_.stages[i];
    const int64_t side = cfg_.grid(i), n = side * side, c = st.dim, ws = cfg_.window, per = (side + ws - 1) / ws;
    const int64_t in_c = i == 0 ? 3 : cfg_.stages[i - 1].dim;
    stream = std::max(stream, b * n * c);
    windows = std::max(windows, b * per * per * ws * ws * c);
    big = std::max({big, b * per * per * ws * ws * 3 * c, b * n * 4 * c, b * n * in_c * int64_t(st.patch) * st.patch});
    scores = std::max(scores, channel_attention_scratch(uint32_t(b), uint32_t(n), uint32_t(c), uint32_t(st.groups)));
  }
  DavitScratch s;
  s.cur = arena.alloc(DType::F32, {stream});
  s.other = arena.alloc(DType::F32, {stream});
  s.y = arena.alloc(DType::F32, {stream});
  s.win = arena.alloc(DType::F32, {windows});
  s.big = arena.alloc(DType::F32, {big});
  s.ctx = arena.alloc(DType::F32, {windows});
  s.scores = arena.alloc(DType::F32, {std::max<int64_t>(scores, 1)});
  Context& ctx = seq.context();
  int in_side = int(size);
  for (size_t i = 0; i < cfg_.stages.size(); ++i) {
    const DavitStage& st = cfg_.stages[i];
    const DavitStageWeights& w = stages_[i];
    const int side = cfg_.grid(i);
    const int64_t c = st.dim, n = int64_t(side) * side, rows = b * n;
    // ConvEmbed: stage 0 convolves the image; the others the previous stage's token grid, after
    // their LayerNorm when prenorm.
    Conv2dShape g;
    g.batch = b, g.height = g.width = in_side, g.kernel = uint32_t(st.patch), g.stride = uint32_t(st.stride);
    g.padding = uint32_t(st.padding);
    const Tensor* input = &pixel_values;
    Tensor normed;
    if (i == 0) {
      g.channels = 3;
    } else {
      const int64_t cin = cfg_.stages[i - 1].dim, in_rows = b * int64_t(in_side) * in_side;
      g.channels = cin, g.channels_last = true;
      normed = s.cur.view(DType::F32, {in_rows, cin});
      if (st.prenorm) {
        layer_norm(seq, normed, nullptr, w.norm_w, w.norm_b, cfg_.eps, s.y.view(DType::F32, {in_rows, cin}));
        normed = s.y.view(DType::F32, {in_rows, cin});
      }
      input = &normed;
    }
    const Tensor x = s.cur.view(DType::F32, {rows, c});
    conv2d(seq, *input, g, w.conv_w, &w.conv_b, s.big.view(DType::F32, {rows, g.cols()}), x);
    if (!st.prenorm) layer_norm(seq, x, nullptr, w.norm_w, w.norm_b, cfg_.eps, x);
    if (!w.spatial.empty()) {
      // The stage's window partition (kZeroRow for padding) and its reverse, as row indices.
      const int64_t ws = cfg_.window, per = (side + ws - 1) / ws;
      std::vector<uint32_t> part(static_cast<size_t>(b * per * per * ws * ws)), back(static_cast<size_t>(rows));
      size_t r = 0;
      for (int64_t bi = 0; bi < b; ++bi)
        for (int64_t wy = 0; wy < per; ++wy)
          for (int64_t wx = 0; wx < per; ++wx)
            for (int64_t iy = 0; iy < ws; ++iy)
              for (int64_t ix = 0; ix < ws; ++ix, ++r) {
                const int64_t yy = wy * ws + iy, xx = wx * ws + ix;
                if (yy < side && xx < side) {
                  const int64_t tok = bi * n + yy * side + xx;
                  part[r] = uint32_t(tok);
                  back[size_t(tok)] = uint32_t(r);
                } else {
                  part[r] = kZeroRow;
                }
              }
      s.part = arena.alloc(DType::U32, {int64_t(part.size())});
      s.back = arena.alloc(DType::U32, {int64_t(back.size())});
      tensor_upload(ctx, s.part, part.data(), part.size() * 4);
      tensor_upload(ctx, s.back, back.data(), back.size() * 4);
    }
    for (size_t j = 0; j < w.spatial.size(); ++j) {
      block_half(seq, w.spatial[j], st, b, side, true, s);
      block_half(seq, w.channel[j], st, b, side, false, s);
    }
    seq.dump("vision.stage" + std::to_string(i), s.cur.view(DType::F32, {b, n, c}));
    in_side = side;
  }
  // _encode_image: positions and the temporal embedding added, the mean-pooled token ahead of the
  // grid, then the projection and its LayerNorm.
  const int64_t d = cfg_.dim_out(), n = cfg_.tokens();
  const Tensor tokens = arena.alloc(DType::F32, {b, n + 1, d});
  class_prepend(seq, s.cur.view(DType::F32, {b, n, d}), zero_token_, positions_, tokens);
  pool_first(seq, tokens);
  const Tensor projected = arena.alloc(DType::F32, {b * (n + 1), p});
  linear(seq, tokens.view(DType::F32, {b * (n + 1), d}), projection_, projected);
  layer_norm(seq, projected, nullptr, proj_norm_w_, proj_norm_b_, cfg_.eps, features.view(DType::F32, {b * t, p}));
}

}  // namespace glimpse
