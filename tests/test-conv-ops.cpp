// Convolutions (conv2d over images and token grids, depthwise), DaViT's channel attention, the
// mean-pool token and the zero rows of gather_rows, each against its CPU reference.
#include "tests/op-test.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace glimpse;
using namespace glimpse::test;

namespace {
Conv2dShape geometry(int64_t b, int64_t c, int64_t h, int64_t w, uint32_t k, uint32_t stride, uint32_t pad, bool last) {
  Conv2dShape s;
  s.batch = b, s.channels = c, s.height = h, s.width = w, s.kernel = k, s.stride = stride, s.padding = pad;
  s.channels_last = last;
  return s;
}
}  // namespace

TEST_CASE("conv2d with stride and padding over images and token grids", "[conv][ops]") {
  Context& ctx = context();
  uint32_t seed = 100;
  // DaViT's stems: 7x7 stride 4 padding 3 over the image, 3x3 stride 2 padding 1 over the tokens;
  // odd sizes so that the last window hangs over the padding; a patchify conv for comparison.
  const Conv2dShape cases[] = {geometry(2, 3, 19, 21, 7, 4, 3, false), geometry(1, 3, 32, 32, 7, 4, 3, false),
                               geometry(2, 6, 5, 7, 3, 2, 1, true),    geometry(1, 16, 8, 8, 3, 2, 1, true),
                               geometry(1, 3, 12, 12, 4, 4, 0, false), geometry(2, 5, 9, 4, 3, 1, 2, true)};
  for (const Conv2dShape& s : cases) {
    for (DType dtype : {DType::F32, DType::F16}) {
      INFO("conv2d b=" << s.batch << " c=" << s.channels << " " << s.height << "x" << s.width << " k=" << s.kernel
                       << " s=" << s.stride << " p=" << s.padding << (s.channels_last ? " tokens " : " image ")
                       << dtype_name(dtype));
      Allocator arena(ctx, MemoryKind::Device, "test");
      const int64_t d = 24, k = s.cols(), rows = s.batch * s.out_tokens();
      const Floats x = random_floats(size_t(s.batch * s.channels * s.height * s.width), seed++);
      const Floats weight = random_floats(size_t(d * k), seed++, -0.3f, 0.3f), bias = random_floats(size_t(d), seed++);
      LinearWeight wt = linear_weight_upload(ctx, arena, weight.data(), HostType::F32, d, k, WeightLayout::OutIn, dtype);
      const Shape xs = s.channels_last ? Shape{s.batch, s.height * s.width, s.channels}
                                       : Shape{s.batch, s.channels, s.height, s.width};
      Tensor xt = upload(arena, x, xs), bt = upload(arena, bias, {d});
      Tensor cols = arena.alloc(DType::F32, {rows, k});
      Tensor y = guarded_output(arena, DType::F32, {s.batch, s.out_tokens(), d});
      Sequence seq(ctx);
      conv2d(seq, xt, s, wt, &bt, cols, y);
      seq.run();
      const Floats wref = dtype == DType::F16 ? round_to_half(weight) : weight;
      CHECK(nmse(download(y), ref::conv2d(gemm_input(ctx, wt.dtype, rows, x), s, wref, d, bias.data())) < 1e-10);
      CHECK(guard_intact(y));
    }
  }
  Allocator arena(ctx, MemoryKind::Device, "test");
  const Conv2dShape s = geometry(1, 4, 6, 6, 3, 2, 1, true);
  const Floats weight(size_t(8 * 4 * 9), 0.0f);
  LinearWeight wt = linear_weight_upload(ctx, arena, weight.data(), HostType::F32, 8, 4 * 9, WeightLayout::OutIn, DType::F32);
  Tensor x = arena.alloc(DType::F32, {1, 36, 4}), cols = arena.alloc(DType::F32, {9, 36}), y = arena.alloc(DType::F32, {1, 9, 8});
  Sequence seq(ctx);
  CHECK_NOTHROW(conv2d(seq, x, s, wt, nullptr, cols, y));
  Tensor wrong = arena.alloc(DType::F32, {1, 35, 4});
  CHECK_THROWS_WITH(conv2d(seq, wrong, s, wt, nullptr, cols, y), Catch::Contains("x must hold [1, 36, 4] (tokens)"));
  Conv2dShape big = s;
  big.padding = 3;
  CHECK_THROWS_WITH(conv2d(seq, x, big, wt, nullptr, cols, y), Catch::Contains("padding 3 must be smaller than the kernel"));
  Conv2dShape wide = s;
  wide.kernel = 5, wide.padding = 2;
  CHECK_THROWS_WITH(conv2d(seq, x, wide, wt, nullptr, cols, y), Catch::Contains("weight takes K = 36"));
}

TEST_CASE("depthwise_conv over a token grid, with and without the residual", "[conv][ops]") {
  Context& ctx = context();
  uint32_t seed = 200;
  const Conv2dShape cases[] = {geometry(2, 10, 5, 7, 3, 1, 1, true), geometry(1, 64, 12, 12, 3, 1, 1, true),
                               geometry(1, 8, 9, 6, 3, 2, 1, true), geometry(3, 3, 1, 1, 3, 1, 1, true)};
  for (const Conv2dShape& s : cases) {
    for (bool residual : {true, false}) {
      if (residual && (s.out_h() != s.height || s.out_w() != s.width)) continue;
      INFO("depthwise b=" << s.batch << " c=" << s.channels << " " << s.height << "x" << s.width << " s=" << s.stride
                          << (residual ? " residual" : ""));
      Allocator arena(ctx, MemoryKind::Device, "test");
      const int64_t c = s.channels;
      const Floats x = random_floats(size_t(s.batch * s.height * s.width * c), seed++);
      const Floats w = random_floats(size_t(c * 9), seed++), bias = random_floats(size_t(c), seed++);
      Tensor xt = upload(arena, x, {s.batch, s.height * s.width, c});
      Tensor wt = upload(arena, w, {c, 9}), bt = upload(arena, bias, {c});
      Tensor y = guarded_output(arena, DType::F32, {s.batch, s.out_tokens(), c});
      Sequence seq(ctx);
      depthwise_conv(seq, xt, s, wt, bt, residual, y);
      seq.run();
      CHECK(max_abs_diff(download(y), ref::depthwise_conv(x, s, w, bias, residual)) < 1e-5);
      CHECK(guard_intact(y));
    }
  }
  Allocator arena(ctx, MemoryKind::Device, "test");
  const Conv2dShape s = geometry(1, 4, 3, 3, 3, 2, 1, true);
  Tensor x = arena.alloc(DType::F32, {1, 9, 4}), w = arena.alloc(DType::F32, {4, 9}), b = arena.alloc(DType::F32, {4});
  Tensor y = arena.alloc(DType::F32, {1, 4, 4});
  Sequence seq(ctx);
  CHECK_THROWS_WITH(depthwise_conv(seq, x, s, w, b, true, y), Catch::Contains("a residual needs an output grid as large"));
  const Conv2dShape same = geometry(1, 4, 3, 3, 3, 1, 1, true);
  CHECK_THROWS_WITH(depthwise_conv(seq, x, same, w, b, true, x), Catch::Contains("y must not overlap x"));
}

TEST_CASE("channel_attention: softmax over channel groups, summed over every token", "[conv][ops]") {
  Context& ctx = context();
  uint32_t seed = 300;
  struct Case {
    uint32_t b, n, c, g;
  };
  // Token counts below, at and across the Vulkan backend's 512-token slices (1100: three uneven
  // ones); groups of 32 channels as Florence-2 has, 16, and the largest (64).
  const Case cases[] = {{2, 7, 64, 2}, {1, 512, 96, 3}, {2, 1100, 48, 3}, {1, 40, 128, 2}, {1, 5000, 32, 1}};
  for (const Case& c : cases) {
    INFO("channel_attention b=" << c.b << " n=" << c.n << " c=" << c.c << " g=" << c.g);
    Allocator arena(ctx, MemoryKind::Device, "test");
    const Floats qkv = random_floats(size_t(c.b) * c.n * 3 * c.c, seed++, -2.0f, 2.0f);
    const float scale = float(std::pow(double(c.n), -0.5));
    Tensor qt = upload(arena, qkv, {int64_t(c.b), int64_t(c.n), 3 * int64_t(c.c)});
    Tensor scratch = arena.alloc(DType::F32, {channel_attention_scratch(c.b, c.n, c.c, c.g)});
    Tensor y = guarded_output(arena, DType::F32, {int64_t(c.b), int64_t(c.n), int64_t(c.c)});
    Sequence seq(ctx);
    channel_attention(seq, qt, c.b, c.n, c.c, c.g, scale, scratch, y);
    seq.run();
    CHECK(max_abs_diff(download(y), ref::channel_attention(qkv, c.b, c.n, c.c, c.g, scale)) < 2e-5);
    CHECK(guard_intact(y));
  }
  Allocator arena(ctx, MemoryKind::Device, "test");
  Tensor qkv = arena.alloc(DType::F32, {1, 4, 3 * 130}), y = arena.alloc(DType::F32, {1, 4, 130});
  Tensor scratch = arena.alloc(DType::F32, {1 << 16});
  Sequence seq(ctx);
  CHECK_THROWS_WITH(channel_attention(seq, qkv, 1, 4, 130, 3, 1.0f, scratch, y), Catch::Contains("do not split into 3 groups"));
  CHECK_THROWS_WITH(channel_attention(seq, qkv, 1, 4, 130, 1, 1.0f, scratch, y), Catch::Contains("at most 64"));
  Tensor small = arena.alloc(DType::F32, {10});
  Tensor qkv2 = arena.alloc(DType::F32, {1, 4, 3 * 64}), y2 = arena.alloc(DType::F32, {1, 4, 64});
  CHECK_THROWS_WITH(channel_attention(seq, qkv2, 1, 4, 64, 2, 1.0f, small, y2), Catch::Contains("holds fewer than"));
}

TEST_CASE("pool_first writes the mean of the grid tokens ahead of them", "[conv][ops]") {
  Context& ctx = context();
  for (int64_t n : {1, 13, 577}) {
    INFO("pool_first n=" << n);
    Allocator arena(ctx, MemoryKind::Device, "test");
    const int64_t b = 2, d = 40;
    const Floats x = random_floats(size_t(b * (n + 1) * d), uint32_t(400 + n));
    Tensor xt = upload(arena, x, {b, n + 1, d});
    Sequence seq(ctx);
    pool_first(seq, xt);
    seq.run();
    CHECK(max_abs_diff(download(xt), ref::pool_first(x, b, n + 1, d)) < 1e-5);
  }
  Allocator arena(ctx, MemoryKind::Device, "test");
  Tensor one = arena.alloc(DType::F32, {2, 1, 8});
  Sequence seq(ctx);
  CHECK_THROWS_WITH(pool_first(seq, one), Catch::Contains("[B, 1 + N, D] with N >= 1"));
}

TEST_CASE("gather_rows writes zeros for kZeroRow (window padding)", "[conv][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  const int64_t width = 12;
  const Floats src = random_floats(size_t(5 * width), 500);
  const std::vector<uint32_t> index = {4, kZeroRow, 0, kZeroRow, 2, 9 /* past the end: the last row */};
  Tensor st = upload(arena, src, {5, width}), it = upload_u32(arena, index, {6});
  Tensor y = guarded_output(arena, DType::F32, {6, width});
  Sequence seq(ctx);
  gather_rows(seq, st, it, y);
  seq.run();
  std::vector<uint32_t> want = index;
  want[5] = 4;
  CHECK(download(y) == ref::gather_rows(src, width, want));
  CHECK(guard_intact(y));
}

TEST_CASE("add_positions adds one position table to every sequence of a batch", "[misc][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  const int64_t b = 3, t = 7, d = 12, r = 20;
  const Floats x = random_floats(size_t(b * t * d), 600), rows = random_floats(size_t(r * d), 601);
  Tensor xt = upload(arena, x, {b, t, d}), rt = upload(arena, rows, {r, d});
  Tensor y = guarded_output(arena, DType::F32, {b, t, d});
  Sequence seq(ctx);
  add_positions(seq, xt, rt, 2, y);
  add_positions(seq, xt, rt, 13, xt);  // in place, the table's last rows
  seq.run();
  CHECK(download(y) == ref::add_positions(x, t, d, rows, 2));
  CHECK(download(xt) == ref::add_positions(x, t, d, rows, 13));
  CHECK(guard_intact(y));
  Sequence bad(ctx);
  CHECK_THROWS_WITH(add_positions(bad, xt, rt, 14, y), Catch::Contains("rows 14 .. 20 are past the table's 20"));
}
