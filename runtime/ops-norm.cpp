// layer_norm and softmax: one workgroup per row.
#include "runtime/ops-common.hpp"
#include "runtime/ops-host.hpp"

#include <optional>

namespace glimpse {

namespace {
// GPUs: 64 lanes for short rows, 128 for hidden sizes like 768/1024, 256 for vocabulary rows.
// lavapipe (577 x 768 layer norm): 8 lanes with vec4 texel rows (1.1 ms; 2.8 ms at 64), 32 lanes
// with scalar rows (2.8 ms; 4.2 ms at 128).
uint32_t row_workgroup(const Context& ctx, int64_t n, bool vec4) {
  if (!ctx.caps().gpu_tuning) return vec4 ? 8 : 32;
  return n <= 256 ? 64 : n <= 2048 ? 128 : 256;
}
}  // namespace

void layer_norm(Sequence& seq, const Tensor& x, const Tensor* residual, const Tensor& gamma, const Tensor& beta,
                float eps, const Tensor& y) {
  const char* op = "layer_norm";
  detail::expect_dtype(op, "x", x, DType::F32);
  detail::expect_dtype(op, "y", y, DType::F32);
  if (x.rank() == 0) fail("layer_norm: x has no dimensions");
  const int64_t n = x.dim(-1), rows = x.numel() / std::max<int64_t>(n, 1);
  detail::expect_numel(op, "y", y, x.numel());
  detail::expect_numel(op, "gamma", gamma, n);
  detail::expect_numel(op, "beta", beta, n);
  if (residual) detail::expect_numel(op, "residual", *residual, x.numel());
  if (rows == 0 || n == 0) return;

  Context& ctx = seq.context();
  if (ctx.caps().host_ops) {
    const std::optional<Tensor> res = residual ? std::optional<Tensor>(*residual) : std::nullopt;
    seq.host(str(op, residual ? "+res " : " ", rows, "x", n), [x, res, gamma, beta, eps, y] {
      host::layer_norm(x, res ? &*res : nullptr, gamma, beta, eps, y);
    });
    return;
  }
  const bool vec4 = ctx.caps().texel_weights && n % 4 == 0;  // texel rows: same capability and switch
  const uint32_t wg = row_workgroup(ctx, n, vec4);
  const BindingKind in = vec4 ? BindingKind::Texel : BindingKind::Storage;
  const Pipeline& pipeline = ctx.pipelines().get({vec4 ? "layer_norm_vec4" : "layer_norm",
                                                  {in, in, in, in, BindingKind::Storage},
                                                  12,
                                                  {wg, residual ? 1u : 0u}});
  struct { uint32_t rows, n; float eps; } push{detail::u32(rows, "rows"), detail::u32(n, "n"), eps};
  auto input = [&](const Tensor& t) {
    return vec4 ? Bind::texel(seq.texel_view(t, VK_FORMAT_R32G32B32A32_SFLOAT)) : Bind::of(t);
  };
  const Bind binds[] = {input(x), input(residual ? *residual : x), input(gamma), input(beta), Bind::of(y)};
  const auto grid = detail::grid_2d(ctx, uint64_t(rows));
  seq.dispatch(pipeline, binds, &push, grid[0], grid[1], 1, str(op, residual ? "+res " : " ", rows, "x", n));
}

void softmax(Sequence& seq, const Tensor& x, const Tensor& y, float scale) {
  const char* op = "softmax";
  detail::expect_dtype(op, "x", x, DType::F32);
  detail::expect_dtype(op, "y", y, DType::F32);
  if (x.rank() == 0) fail("softmax: x has no dimensions");
  const int64_t n = x.dim(-1), rows = x.numel() / std::max<int64_t>(n, 1);
  detail::expect_numel(op, "y", y, x.numel());
  if (rows == 0 || n == 0) return;

  Context& ctx = seq.context();
  if (ctx.caps().host_ops) {
    seq.host(str(op, " ", rows, "x", n), [x, y, scale] { host::softmax(x, y, scale); });
    return;
  }
  const Pipeline& pipeline =
      ctx.pipelines().get({"softmax", std::vector<BindingKind>(2, BindingKind::Storage), 12, {row_workgroup(ctx, n, false)}});
  struct { uint32_t rows, n; float scale; } push{detail::u32(rows, "rows"), detail::u32(n, "n"), scale};
  const Bind binds[] = {Bind::of(x), Bind::of(y)};
  const auto grid = detail::grid_2d(ctx, uint64_t(rows));
  seq.dispatch(pipeline, binds, &push, grid[0], grid[1], 1, str(op, " ", rows, "x", n));
}

}  // namespace glimpse
