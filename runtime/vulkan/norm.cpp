// layer_norm and softmax on the Vulkan backend: one workgroup per row.
#include "runtime/vulkan/backend.hpp"

namespace glimpse::vulkan {

namespace {
// GPUs: 64 lanes for short rows, 128 for hidden sizes like 768/1024, 256 for vocabulary rows.
// lavapipe (577 x 768 layer norm): 8 lanes with vec4 texel rows (1.1 ms; 2.8 ms at 64), 32 lanes
// with scalar rows (2.8 ms; 4.2 ms at 128).
uint32_t row_workgroup(const Context& ctx, int64_t n, bool vec4) {
  if (!ctx.caps().gpu_tuning) return vec4 ? 8 : 32;
  return n <= 256 ? 64 : n <= 2048 ? 128 : 256;
}
}  // namespace

void VulkanBackend::layer_norm(Sequence& seq, const Tensor& x, const Tensor* residual, const Tensor& gamma,
                               const Tensor& beta, float eps, const Tensor& y, int64_t rows, int64_t n) const {
  Context& ctx = seq.context();
  const bool vec4 = ctx.caps().texel_weights && n % 4 == 0;  // texel rows: same capability and switch
  const uint32_t wg = row_workgroup(ctx, n, vec4);
  const BindingKind in = vec4 ? BindingKind::Texel : BindingKind::Storage;
  const Pipeline& pipeline = ctx.pipelines().get({vec4 ? "layer_norm_vec4" : "layer_norm",
                                                  {in, in, in, in, BindingKind::Storage},
                                                  12,
                                                  {wg, residual ? 1u : 0u}});
  struct { uint32_t rows, n; float eps; } push{u32(rows, "rows"), u32(n, "n"), eps};
  auto input = [&](const Tensor& t) {
    return vec4 ? Bind::texel(seq.texel_view(t, VK_FORMAT_R32G32B32A32_SFLOAT)) : Bind::of(t);
  };
  const Bind binds[] = {input(x), input(residual ? *residual : x), input(gamma), input(beta), Bind::of(y)};
  const auto grid = grid_2d(ctx, uint64_t(rows));
  seq.dispatch(pipeline, binds, &push, grid[0], grid[1], 1, str("layer_norm", residual ? "+res " : " ", rows, "x", n));
}

void VulkanBackend::softmax(Sequence& seq, const Tensor& x, const Tensor& y, float scale, int64_t rows, int64_t n) const {
  Context& ctx = seq.context();
  const Pipeline& pipeline =
      ctx.pipelines().get({"softmax", std::vector<BindingKind>(2, BindingKind::Storage), 12, {row_workgroup(ctx, n, false)}});
  struct { uint32_t rows, n; float scale; } push{u32(rows, "rows"), u32(n, "n"), scale};
  const Bind binds[] = {Bind::of(x), Bind::of(y)};
  const auto grid = grid_2d(ctx, uint64_t(rows));
  seq.dispatch(pipeline, binds, &push, grid[0], grid[1], 1, str("softmax ", rows, "x", n));
}

}  // namespace glimpse::vulkan
