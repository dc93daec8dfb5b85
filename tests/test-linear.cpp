// linear vs the CPU reference: shapes, weight dtypes and layouts, kernels, epilogues, splitting.
#include "tests/op-test.hpp"

#include "runtime/error.hpp"
#include "runtime/half.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>

using namespace glimpse;
using namespace glimpse::test;

namespace {

struct LinearCase {
  int64_t m, k, n;
  DType dtype;
  LinearKernel kernel;
  Activation act = Activation::None;
  bool bias = true;
  bool residual = false;
  WeightLayout layout = WeightLayout::OutIn;
  CoopTile tile{};
};

std::string describe(const LinearCase& c) {
  static const char* acts[] = {"none", "gelu_erf", "gelu_tanh", "relu"};
  static const char* kernels[] = {"auto", "blocked", "split_k", "tiled", "coop"};
  return str("linear m=", c.m, " k=", c.k, " n=", c.n, " w=", dtype_name(c.dtype), " kernel=",
             kernels[int(c.kernel)], " act=", acts[int(c.act)], c.bias ? " +bias" : "", c.residual ? " +residual" : "",
             c.layout == WeightLayout::InOut ? " conv1d" : "",
             c.tile == CoopTile{} ? "" : str(" tile=", c.tile.wm, "x", c.tile.wn, "x", c.tile.tm, "x", c.tile.tn));
}

// Runs one case on `ctx` and checks it against the reference. fp16 weights are compared with a
// reference that uses the same fp16-rounded values, so the tolerance covers accumulation only.
void check_linear(Context& ctx, const LinearCase& c, uint32_t seed) {
  INFO(describe(c));
  Allocator arena(ctx, MemoryKind::Device, "test");
  const Floats w_out_in = random_floats(size_t(c.n * c.k), seed, -0.5f, 0.5f);
  Floats w_file = w_out_in;  // as stored in the checkpoint
  if (c.layout == WeightLayout::InOut)
    for (int64_t r = 0; r < c.n; ++r)
      for (int64_t col = 0; col < c.k; ++col) w_file[size_t(col * c.n + r)] = w_out_in[size_t(r * c.k + col)];
  const Floats x = random_floats(size_t(c.m * c.k), seed + 1);
  const Floats b = random_floats(size_t(c.n), seed + 2);
  const Floats res = random_floats(size_t(c.m * c.n), seed + 3);

  LinearWeight w = linear_weight_upload(ctx, arena, w_file.data(), HostType::F32, c.n, c.k, c.layout, c.dtype);
  REQUIRE(w.dtype == c.dtype);
  Tensor xt = upload(arena, x, {c.m, c.k});
  Tensor bt = upload(arena, b, {c.n});
  Tensor rt = upload(arena, res, {c.m, c.n});
  Tensor y = guarded_output(arena, DType::F32, {c.m, c.n});

  Sequence seq(ctx);
  LinearOptions opt;
  opt.bias = c.bias ? &bt : nullptr;
  opt.residual = c.residual ? &rt : nullptr;
  opt.act = c.act;
  opt.kernel = c.kernel;
  opt.coop_tile = c.tile;
  linear(seq, xt, w, y, opt);
  seq.run();

  const Floats w_ref = c.dtype == DType::F16 ? round_to_half(w_out_in) : w_out_in;
  // The tensor-core kernel multiplies fp16 x by the fp16 weights (fp32 sums): the reference
  // rounds x the same way.
  const Floats x_ref = c.kernel == LinearKernel::Coop   ? round_to_half(x)
                       : c.kernel == LinearKernel::Auto ? gemm_input(ctx, c.dtype, c.m, x)
                                                        : x;
  const Floats want = ref::linear(x_ref, c.m, c.k, w_ref, c.n,
                                  c.bias ? b.data() : nullptr, c.act, c.residual ? res.data() : nullptr);
  const Floats got = download(y, ctx);
  CHECK(all_finite(got));
  CHECK(guard_intact(y, ctx));
  CHECK(nmse(got, want) < 1e-10);
}

}  // namespace

TEST_CASE("linear matches the reference over shapes, dtypes and kernels", "[linear][ops]") {
  Context& ctx = context();
  uint32_t seed = 100;
  const int64_t shapes[][3] = {{1, 8, 1},   {1, 7, 33},  {2, 33, 7},   {3, 768, 768}, {7, 64, 130},
                               {8, 33, 257}, {9, 8, 8},  {17, 7, 33},  {33, 768, 129}, {64, 40, 72},
                               {577, 768, 96}, {100, 3072, 40}, {5, 3072, 768}, {300, 64, 1000}, {130, 48, 520}};
  for (DType dtype : {DType::F32, DType::F16}) {
    for (const auto& s : shapes) {
      LinearCase c{s[0], s[1], s[2], dtype, LinearKernel::Blocked};
      check_linear(ctx, c, seed++);
      c.kernel = c.m <= 8 ? LinearKernel::SplitK : LinearKernel::Tiled;
      check_linear(ctx, c, seed++);
    }
  }
}

TEST_CASE("the tensor-core GEMM's tile choice", "[linear][ops]") {
  // Big tiles where there are enough of them to fill an H100, never more shared memory than the
  // device has (the smallest, 19 KB, is the fallback). Runs everywhere: no device needed.
  CHECK(coop_tile_auto(577, 3072, 49152) == CoopTile{4, 2, 2, 4});
  CHECK(coop_tile_auto(577, 768, 49152) == CoopTile{2, 2, 1, 2});
  CHECK(coop_tile_auto(577 * 8, 768, 49152) == CoopTile{4, 2, 2, 4});
  CHECK(coop_tile_auto(577, 3072, 40000) == CoopTile{2, 4, 2, 2});
  CHECK(coop_tile_auto(577, 3072, 32768) == CoopTile{2, 2, 1, 2});
  CHECK(coop_tile_shared_bytes({4, 2, 2, 4}) == 49152);
  CHECK(coop_tile_shared_bytes({2, 2, 1, 2}) == 19456);
}

TEST_CASE("linear on tensor cores (VK_NV_cooperative_matrix) matches the reference", "[linear][ops]") {
  Context& ctx = context();
  if (!ctx.caps().coop_matrix) {
    WARN("no 16x16x16 fp16 cooperative matrices on " << ctx.info().name << ": the tensor-core GEMM is not tested here");
    return;
  }
  uint32_t seed = 700;
  const int64_t shapes[][3] = {{9, 8, 8},     {17, 7, 33},   {33, 768, 129}, {64, 40, 72},  {65, 100, 130},
                               {577, 768, 96}, {100, 3072, 40}, {577, 768, 768}, {128, 64, 64}};
  for (const auto& s : shapes) check_linear(ctx, {s[0], s[1], s[2], DType::F16, LinearKernel::Coop}, seed++);
  for (Activation act : {Activation::None, Activation::GeluErf, Activation::GeluTanh, Activation::Relu})
    for (bool residual : {false, true}) check_linear(ctx, {40, 96, 70, DType::F16, LinearKernel::Coop, act, true, residual}, seed++);
  // Every tile shape the kernel may be given (coop_tile_auto's and the tuning sweep's), on shapes
  // with partial tiles in M, N and K: each tile's loads, double buffering and epilogue.
  const CoopTile tiles[] = {{1, 1, 1, 1}, {2, 2, 1, 2}, {2, 2, 2, 1}, {2, 2, 2, 2}, {2, 2, 4, 2}, {2, 2, 2, 4},
                            {4, 2, 2, 2}, {2, 4, 2, 2}, {4, 2, 2, 4}, {4, 4, 2, 2}, {1, 4, 2, 2}, {4, 1, 2, 2}};
  const int64_t tile_shapes[][3] = {{1, 8, 8}, {77, 100, 200}, {577, 768, 144}, {129, 3072, 70}};
  for (const CoopTile& t : tiles) {
    try {
      coop_tile_check(ctx, t);
    } catch (const Error& e) {
      WARN(e.what());
      continue;
    }
    for (const auto& s : tile_shapes) {
      LinearCase c{s[0], s[1], s[2], DType::F16, LinearKernel::Coop, Activation::GeluErf, true, true};
      c.tile = t;
      check_linear(ctx, c, seed++);
    }
  }
  CHECK_THROWS_WITH(coop_tile_check(ctx, {16, 16, 1, 1}), Catch::Contains("out of range"));
  CHECK_THROWS_WITH(coop_tile_check(ctx, {8, 2, 8, 8}), Catch::Contains("shared memory"));
  CHECK_THROWS_WITH(check_linear(ctx, {40, 96, 70, DType::F32, LinearKernel::Coop}, seed++),
                    Catch::Contains("needs fp16 weights"));
}

TEST_CASE("linear epilogues: gelu (erf, tanh), residual, no bias", "[linear][ops]") {
  Context& ctx = context();
  uint32_t seed = 300;
  for (LinearKernel kernel : {LinearKernel::Blocked, LinearKernel::SplitK, LinearKernel::Tiled}) {
    for (int64_t m : {1, 4, 20}) {
      if (kernel == LinearKernel::SplitK && m > 8) continue;
      for (DType dtype : {DType::F32, DType::F16}) {
        check_linear(ctx, {m, 96, 70, dtype, kernel, Activation::GeluErf, true, false}, seed++);
        check_linear(ctx, {m, 96, 70, dtype, kernel, Activation::GeluTanh, true, false}, seed++);
        check_linear(ctx, {m, 96, 70, dtype, kernel, Activation::Relu, true, true}, seed++);
        check_linear(ctx, {m, 96, 70, dtype, kernel, Activation::None, true, true}, seed++);
        check_linear(ctx, {m, 36, 70, dtype, kernel, Activation::None, false, false}, seed++);
        check_linear(ctx, {m, 36, 70, dtype, kernel, Activation::GeluErf, false, true}, seed++);
      }
    }
  }
}

TEST_CASE("linear reads GPT-2 Conv1D [K, N] weights", "[linear][ops]") {
  check_linear(context(), {5, 48, 40, DType::F32, LinearKernel::Auto, Activation::GeluTanh, true, false,
                           WeightLayout::InOut}, 400);
  check_linear(context(), {30, 48, 72, DType::F16, LinearKernel::Auto, Activation::None, true, true,
                           WeightLayout::InOut}, 401);
}

TEST_CASE("linear residual may be the output itself", "[linear][ops]") {
  // y += x W^T (+ bias, activation first): the CPU backend accumulates in place when nothing
  // comes between, through scratch otherwise, and reads before it writes in the fp16 GEMV.
  Context& ctx = context();
  uint32_t seed = 1;
  for (DType dtype : {DType::F32, DType::F16})
    for (int64_t m : {1, 4, 9, 200})
      for (bool bias : {false, true})
        for (Activation act : {Activation::None, Activation::GeluErf}) {
          INFO("linear in place m=" << m << " " << dtype_name(dtype) << (bias ? " +bias" : "") << " act=" << int(act));
          Allocator arena(ctx, MemoryKind::Device, "test");
          const int64_t k = 40, n = 24;
          const Floats w = random_floats(size_t(n * k), seed++), x = random_floats(size_t(m * k), seed++);
          const Floats r = random_floats(size_t(m * n), seed++), b = random_floats(size_t(n), seed++);
          LinearWeight wt = linear_weight_upload(ctx, arena, w.data(), HostType::F32, n, k, WeightLayout::OutIn, dtype);
          Tensor xt = upload(arena, x, {m, k}), yt = upload(arena, r, {m, n}), bt = upload(arena, b, {n});
          Sequence seq(ctx);
          LinearOptions opt;
          opt.residual = &yt;
          opt.bias = bias ? &bt : nullptr;
          opt.act = act;
          linear(seq, xt, wt, yt, opt);
          seq.run();
          const Floats w_ref = wt.dtype == DType::F16 ? round_to_half(w) : w;
          CHECK(nmse(download(yt), ref::linear(gemm_input(ctx, wt.dtype, m, x), m, k, w_ref, n, bias ? b.data() : nullptr,
                                               act, r.data())) < 1e-10);
        }
}

TEST_CASE("linear writes an fp16 output on the CPU backend", "[linear][ops]") {
  // fp16 models' cross-attention K/V: the epilogue in fp32, each value rounded once to fp16. Rows
  // through the fp16 GEMV (m <= 8) and the GEMMs, one column piece and several.
  Context& ctx = context();
  uint32_t seed = 700;
  for (DType dtype : {DType::F32, DType::F16})
    for (int64_t m : {1, 5, 9, 577})
      for (int64_t n : {24, 1536})
        for (bool bias : {false, true}) {
          const Activation act = n == 24 ? Activation::GeluErf : Activation::None;
          INFO("linear fp16 y m=" << m << " n=" << n << " w=" << dtype_name(dtype) << (bias ? " +bias" : "")
                                  << " act=" << int(act));
          Allocator arena(ctx, MemoryKind::Device, "test");
          const int64_t k = 64;
          const Floats w = random_floats(size_t(n * k), seed++), x = random_floats(size_t(m * k), seed++);
          const Floats b = random_floats(size_t(n), seed++);
          LinearWeight wt = linear_weight_upload(ctx, arena, w.data(), HostType::F32, n, k, WeightLayout::OutIn, dtype);
          Tensor xt = upload(arena, x, {m, k}), bt = upload(arena, b, {n});
          Tensor y = guarded_output(arena, DType::F16, {m, n});
          Sequence seq(ctx);
          LinearOptions opt;
          opt.bias = bias ? &bt : nullptr;
          opt.act = act;
          if (!ctx.backend().attention_f16_kv()) {
            CHECK_THROWS_WITH(linear(seq, xt, wt, y, opt),
                              Catch::Contains("fp16 output") && Catch::Contains("CPU backend"));
            continue;
          }
          linear(seq, xt, wt, y, opt);
          seq.run();
          const Floats w_ref = wt.dtype == DType::F16 ? round_to_half(w) : w;
          const Floats want = ref::linear(x, m, k, w_ref, n, bias ? b.data() : nullptr, act, nullptr);
          const Floats got = download_f16(y, ctx);
          size_t off = 0;  // beyond fp16's rounding (half an ulp: 2^-11 relative) and fp32 sums' order
          for (size_t i = 0; i < got.size(); ++i)
            off += !(std::fabs(got[i] - want[i]) <= 4.9e-4f * std::fabs(want[i]) + 1e-6f);
          CHECK(off == 0);
          CHECK(guard_intact(y, ctx));
        }
  if (!ctx.backend().attention_f16_kv()) return;
  Allocator arena(ctx, MemoryKind::Device, "test");
  const Floats w = random_floats(8 * 8, 1);
  LinearWeight wt = linear_weight_upload(ctx, arena, w.data(), HostType::F32, 8, 8, WeightLayout::OutIn, DType::F32);
  Tensor x = arena.alloc(DType::F32, {2, 8}), y = arena.alloc(DType::F16, {2, 8}), r = arena.alloc(DType::F16, {2, 8});
  Sequence seq(ctx);
  CHECK_THROWS_WITH(linear(seq, x, wt, y, {nullptr, Activation::None, &r}), Catch::Contains("takes no residual"));
}

TEST_CASE("linear splits wide weights over several bindings", "[linear][ops]") {
  // A binding limit of 64 KiB makes a 300 x 200 fp32 weight (800-byte rows) three chunks of 64 rows
  // and one of 108, as a 50257 x 768 vocabulary projection is split under a real 128 MiB limit.
  ContextOptions opt;
  opt.max_binding_bytes = 64 << 10;
  Context ctx(opt);
  for (DType dtype : {DType::F32, DType::F16}) {
    for (int64_t m : {1, 3, 40}) {
      check_linear(ctx, {m, 200, 300, dtype, LinearKernel::Blocked, Activation::None, true, true}, 500);
      check_linear(ctx, {m, 200, 300, dtype, LinearKernel::Tiled, Activation::None, true, true}, 502);
      if (m <= 8) check_linear(ctx, {m, 200, 300, dtype, LinearKernel::SplitK}, 501);
    }
  }
}

TEST_CASE("linear with GPU kernel shapes", "[linear][ops]") {
  // The tile shapes glimpse picks on GPUs, run here so they are held to the reference too.
  auto gpu = context_with({{"GLIMPSE_TUNING", "gpu"}});
  Context& ctx = *gpu;
  REQUIRE(ctx.caps().gpu_tuning);
  uint32_t seed = 650;
  for (DType dtype : {DType::F32, DType::F16})
    for (int64_t m : {1, 5, 8, 9, 70, 577})
      check_linear(ctx, {m, 264, 100, dtype, LinearKernel::Auto, Activation::GeluErf, true, true}, seed++);
}

TEST_CASE("a GPT-2 vocabulary projection (50257 x 768, fp32) fits the device's binding limits", "[linear][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  const int64_t n = 50257, k = 768, m = 2;
  const Floats w = random_floats(size_t(n * k), 42, -0.1f, 0.1f), x = random_floats(size_t(m * k), 43);
  LinearWeight wt = linear_weight_upload(ctx, arena, w.data(), HostType::F32, n, k, WeightLayout::OutIn, DType::F32);
  const VkDeviceSize bytes = VkDeviceSize(n * k) * 4;
  const VkDeviceSize limit = ctx.caps().max_binding_bytes;  // 128 MiB on lavapipe: two chunks
  CHECK(wt.chunks() >= int64_t((bytes + limit - 1) / limit));
  CHECK(VkDeviceSize(wt.chunk_rows) * wt.row_bytes() <= ctx.caps().max_binding_bytes);
  Tensor xt = upload(arena, x, {m, k});
  Tensor y = guarded_output(arena, DType::F32, {m, n});
  Sequence seq(ctx);
  linear(seq, xt, wt, y);
  seq.run();
  CHECK(guard_intact(y));
  CHECK(nmse(download(y), ref::linear(x, m, k, w, n, nullptr, Activation::None, nullptr)) < 1e-10);
}

TEST_CASE("linear portable path: storage-buffer weights, fp32 storage", "[linear][ops]") {
  auto portable = context_with({{"GLIMPSE_DISABLE_TEXEL", "1"}, {"GLIMPSE_DISABLE_F16", "1"}});
  Context& ctx = *portable;
  REQUIRE_FALSE(ctx.caps().texel_weights);
  REQUIRE_FALSE(ctx.caps().f16_weights);
  Allocator arena(ctx, MemoryKind::Device, "test");
  const Floats w = random_floats(8 * 16, 7);
  LinearWeight wt = linear_weight_upload(ctx, arena, w.data(), HostType::F32, 8, 16, WeightLayout::OutIn, DType::F16);
  CHECK(wt.dtype == DType::F32);  // the kill switch forces fp32 storage
  for (int64_t m : {1, 6, 35})
    for (LinearKernel kernel : {LinearKernel::Blocked, LinearKernel::SplitK, LinearKernel::Tiled})
      if (!(kernel == LinearKernel::SplitK && m > 8))
        check_linear(ctx, {m, 33, 65, DType::F32, kernel, Activation::GeluErf, true, true}, 600);
}

TEST_CASE("linear weights from f16 and bf16 checkpoints", "[linear][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  const int64_t m = 3, k = 24, n = 10;
  const Floats w = round_to_half(random_floats(size_t(n * k), 11));  // exactly representable in f16
  std::vector<uint16_t> w16(w.size()), wbf(w.size());
  Floats w_bf(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    w16[i] = float_to_half(w[i]);
    uint32_t bits;
    std::memcpy(&bits, &w[i], 4);
    wbf[i] = uint16_t(bits >> 16);  // truncation: exact bf16 values
    w_bf[i] = bf16_to_float(wbf[i]);
  }
  const Floats x = random_floats(size_t(m * k), 12);
  Tensor xt = upload(arena, x, {m, k});
  for (DType store : {DType::F32, DType::F16}) {
    LinearWeight a = linear_weight_upload(ctx, arena, w16.data(), HostType::F16, n, k, WeightLayout::OutIn, store);
    LinearWeight b = linear_weight_upload(ctx, arena, wbf.data(), HostType::BF16, n, k, WeightLayout::OutIn, DType::F32);
    Tensor ya = arena.alloc(DType::F32, {m, n}), yb = arena.alloc(DType::F32, {m, n});
    Sequence seq(ctx);
    linear(seq, xt, a, ya);
    linear(seq, xt, b, yb);
    seq.run();
    CHECK(nmse(download(ya), ref::linear(x, m, k, w, n, nullptr, Activation::None, nullptr)) < 1e-12);
    CHECK(nmse(download(yb), ref::linear(x, m, k, w_bf, n, nullptr, Activation::None, nullptr)) < 1e-12);
  }
}

TEST_CASE("linear rejects mismatched shapes with a clear error", "[linear][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  const Floats w = random_floats(4 * 8, 1);
  LinearWeight wt = linear_weight_upload(ctx, arena, w.data(), HostType::F32, 4, 8, WeightLayout::OutIn, DType::F32);
  Tensor x = arena.alloc(DType::F32, {2, 9});
  Tensor y = arena.alloc(DType::F32, {2, 4});
  Sequence seq(ctx);
  CHECK_THROWS_WITH(linear(seq, x, wt, y), Catch::Contains("must end in K = 8"));
  Tensor x2 = arena.alloc(DType::F32, {9, 8});
  CHECK_THROWS_WITH(linear(seq, x2, wt, y, {nullptr, Activation::None, nullptr, LinearKernel::SplitK}),
                    Catch::Contains("y must have 36 elements"));
  Tensor y9 = arena.alloc(DType::F32, {9, 4});
  CHECK_THROWS_WITH(linear(seq, x2, wt, y9, {nullptr, Activation::None, nullptr, LinearKernel::SplitK}),
                    Catch::Contains("at most 8 rows"));
}
