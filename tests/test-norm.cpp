// layer_norm and softmax vs the CPU reference.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "tests/op-test.hpp"

using namespace glimpse;
using namespace glimpse::test;

namespace {
Context& gpu_tuned_context() {
  static std::unique_ptr<Context> ctx = context_with({{"GLIMPSE_TUNING", "gpu"}});
  return *ctx;
}
}  // namespace

TEST_CASE("layer_norm matches the reference, with and without a residual", "[norm][ops]") {
  for (Context* ctx_ptr : {&context(), &gpu_tuned_context()}) {
    Context& ctx = *ctx_ptr;
    uint32_t seed = 1;
    for (int64_t rows : {1, 7, 577}) {
      for (int64_t n : {1, 7, 33, 768, 3072}) {
        for (bool residual : {false, true}) {
          for (float eps : {1e-12f, 1e-6f}) {
            INFO("layer_norm rows=" << rows << " n=" << n << " residual=" << residual << " eps=" << eps);
            Allocator arena(ctx, MemoryKind::Device, "test");
            // An offset of 300 makes E[x^2] - mean^2 lose most digits; two-pass statistics do not.
            const Floats x = random_floats(size_t(rows * n), seed++, 299.0f, 301.0f);
            const Floats r = random_floats(size_t(rows * n), seed++);
            const Floats g = random_floats(size_t(n), seed++, 0.5f, 1.5f), b = random_floats(size_t(n), seed++);
            Tensor xt = upload(arena, x, {rows, n}), rt = upload(arena, r, {rows, n});
            Tensor gt = upload(arena, g, {n}), bt = upload(arena, b, {n});
            Tensor y = guarded_output(arena, DType::F32, {rows, n});
            Sequence seq(ctx);
            layer_norm(seq, xt, residual ? &rt : nullptr, gt, bt, eps, y);
            seq.run();
            const Floats got = download(y, ctx);
            const Floats want = ref::layer_norm(x, residual ? r.data() : nullptr, rows, n, g, b, eps);
            CHECK(all_finite(got));
            CHECK(guard_intact(y, ctx));
            // The fp32 mean of values near 300 carries ~1e-5 absolute error: nmse ~1e-9 is the floor;
            // one-pass E[x^2] - mean^2 statistics land near 1e-4 on this data.
            if (n > 1)
              CHECK(nmse(got, want) < 1e-8);
            else
              CHECK(nmse(got, want) < 1e-6);  // a 1-wide row normalises to beta exactly
          }
        }
      }
    }
  }
}

TEST_CASE("layer_norm in place (y aliases x)", "[norm][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  const int64_t rows = 5, n = 100;
  const Floats x = random_floats(size_t(rows * n), 9), g = random_floats(size_t(n), 10),
               b = random_floats(size_t(n), 11);
  Tensor xt = upload(arena, x, {rows, n}), gt = upload(arena, g, {n}), bt = upload(arena, b, {n});
  Sequence seq(ctx);
  layer_norm(seq, xt, nullptr, gt, bt, 1e-5f, xt);
  seq.run();
  CHECK(nmse(download(xt), ref::layer_norm(x, nullptr, rows, n, g, b, 1e-5f)) < 1e-9);
}

TEST_CASE("softmax matches the reference", "[norm][ops]") {
  for (Context* ctx_ptr : {&context(), &gpu_tuned_context()}) {
    Context& ctx = *ctx_ptr;
    uint32_t seed = 50;
    for (int64_t rows : {1, 3, 577}) {
      for (int64_t n : {1, 7, 577, 30524}) {
        if (rows == 577 && n == 30524) continue;
        for (float s : {1.0f, 0.125f}) {
          INFO("softmax rows=" << rows << " n=" << n << " scale=" << s);
          Allocator arena(ctx, MemoryKind::Device, "test");
          const Floats x = random_floats(size_t(rows * n), seed++, -30.0f, 30.0f);
          Tensor xt = upload(arena, x, {rows, n});
          Tensor y = guarded_output(arena, DType::F32, {rows, n});
          Sequence seq(ctx);
          softmax(seq, xt, y, s);
          seq.run();
          const Floats got = download(y, ctx);
          CHECK(all_finite(got));
          CHECK(guard_intact(y, ctx));
          CHECK(nmse(got, ref::softmax(x, rows, n, s)) < 1e-10);
        }
      }
    }
  }
}
