// linear on the Vulkan backend: kernel choice (register-blocked on CPUs, split-K GEMV for a few
// rows on GPUs, shared-memory tiles, tensor cores for fp16 weights) and GEMM splitting along N
// where the weight outgrows one binding.
#include "runtime/vulkan/backend.hpp"

#include <cstdio>
#include <cstdlib>
#include <optional>

namespace glimpse {

LinearKernel linear_kernel_auto(const Caps& caps, DType weights, int64_t m) {
  if (m <= 8) return caps.split_k_gemv ? LinearKernel::SplitK : LinearKernel::Blocked;
  if (caps.coop_matrix && weights == DType::F16) return LinearKernel::Coop;
  return caps.gpu_tuning ? LinearKernel::Tiled : LinearKernel::Blocked;
}

uint64_t coop_tile_shared_bytes(const CoopTile& t) {
  // shaders/linear_coop.comp: two stages of x and W rows of 80 bytes, a 1 KB scratch per subgroup.
  const uint64_t bm = uint64_t(t.wm) * t.tm * 16, bn = uint64_t(t.wn) * t.tn * 16;
  return 2 * (bm + bn) * 80 + uint64_t(t.wm) * t.wn * 1024;
}

CoopTile coop_tile_auto(int64_t m, int64_t n, uint64_t max_shared) {
  // Measured on an H100 (132 SMs) with tools/bench/coop-tune.sh at BLIP-base's 577 rows, ms:
  //   768->2304 and 768->3072: 128x128 (4x2x2x4) 0.044 and 0.044, 64x128 0.048/0.048, 64x64 0.056/0.057;
  //   768->768 and 3072->768: 32x64 (2x2x1x2) 0.021 and 0.062, 64x64 0.029/0.085, 128x128 0.046/0.132.
  // Big tiles win while there are enough of them to fill the SMs (5 x 18 = 90 did); below that
  // the smallest tile, which keeps the most workgroups in flight. A tile needing more shared
  // memory than the device has gives way to the next.
  const auto tiles = [&](int64_t bm, int64_t bn) { return ((m + bm - 1) / bm) * ((n + bn - 1) / bn); };
  const CoopTile big{4, 2, 2, 4}, wide{2, 4, 2, 2}, small{2, 2, 1, 2};
  if (tiles(128, 128) >= 80 && coop_tile_shared_bytes(big) <= max_shared) return big;
  if (tiles(64, 128) >= 80 && coop_tile_shared_bytes(wide) <= max_shared) return wide;
  return small;
}

void coop_tile_check(const Context& ctx, const CoopTile& t) {
  const auto in = [](uint32_t v, uint32_t hi) { return v >= 1 && v <= hi; };
  if (!in(t.wm, 8) || !in(t.wn, 8) || !in(t.tm, 8) || !in(t.tn, 8) || t.wm * t.wn > 16)
    fail("linear: tensor-core tile ", t.wm, "x", t.wn, "x", t.tm, "x", t.tn,
         " is out of range (1 to 8 each, at most 16 subgroups)");
  const uint64_t bytes = coop_tile_shared_bytes(t);
  if (bytes > ctx.info().max_shared_memory)
    fail("linear: tensor-core tile ", t.wm, "x", t.wn, "x", t.tm, "x", t.tn, " needs ", bytes,
         " bytes of shared memory; ", ctx.info().name, " has ", ctx.info().max_shared_memory);
}

}  // namespace glimpse

namespace glimpse::vulkan {

namespace {

// GLIMPSE_COOP_TILE=WMxWNxTMxTN: every tensor-core GEMM uses that tile (tuning and benchmarks).
std::optional<CoopTile> coop_tile_env() {
  static const std::optional<CoopTile> tile = []() -> std::optional<CoopTile> {
    const char* v = std::getenv("GLIMPSE_COOP_TILE");
    if (!v || !*v) return std::nullopt;
    CoopTile t;
    if (std::sscanf(v, "%ux%ux%ux%u", &t.wm, &t.wn, &t.tm, &t.tn) != 4)
      fail("GLIMPSE_COOP_TILE must be WMxWNxTMxTN (e.g. 2x2x2x2), found '", v, "'");
    return t;
  }();
  return tile;
}

}  // namespace

void VulkanBackend::linear(Sequence& seq, const Tensor& x, int64_t m, const LinearWeight& w, const Tensor& y,
                           const LinearOptions& opt) const {
  Context& ctx = seq.context();
  const Caps& caps = ctx.caps();
  const char* op = "linear";
  const bool f16 = w.dtype == DType::F16;
  const LinearKernel kernel = opt.kernel == LinearKernel::Auto ? linear_kernel_auto(caps, w.dtype, m) : opt.kernel;
  if (kernel == LinearKernel::Coop && (!caps.coop_matrix || !f16))
    fail("linear: the tensor-core kernel needs fp16 weights on a device with VK_NV_cooperative_matrix");
  const uint32_t x_aligned = w.k % 4 == 0 ? 1 : 0;
  const uint32_t rows_pow2 = m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : 8;
  // Workgroup size, rows and columns per lane (blocked) or per workgroup (split-K, tiled).
  uint32_t wg = 0, tm = 0, tn = 0;
  std::string shader;
  PipelineDesc desc;
  switch (kernel) {
    case LinearKernel::SplitK:
      shader = "linear_gemv_";
      wg = 64, tm = rows_pow2, tn = 4;
      desc.spec = {wg, tm, tn, x_aligned};
      break;
    case LinearKernel::Tiled:
      shader = "linear_tiled_";
      wg = 256, tm = 64, tn = 64;
      desc.spec = {wg, x_aligned};
      break;
    case LinearKernel::Coop: {
      CoopTile t = opt.coop_tile;
      if (const auto env = coop_tile_env()) t = *env;
      if (t == CoopTile{}) t = coop_tile_auto(m, w.n, ctx.info().max_shared_memory);
      coop_tile_check(ctx, t);
      shader = "linear_coop_";
      wg = t.wm * t.wn * 32, tm = t.wm * t.tm * 16, tn = t.wn * t.tn * 16;
      desc.spec = {wg, x_aligned, t.wm, t.wn, t.tm, t.tn};
      break;
    }
    default:
      shader = "linear_";
      // lavapipe, measured with glimpse bench ops: 16x16 blocks of 8 lanes for prefill (f16
      // 577x768->3072: 75-85 GFLOP/s vs ~70 at 16x8); for decode one lane per 8 columns, or per
      // 2 for fp16 with 1-2 rows (768->30524: 4.4 ms vs 5.5 ms at 4 columns; with 4 rows 8
      // columns win: 7.1 ms vs 9.1 ms at 2).
      if (m <= 8) tm = rows_pow2, tn = f16 && m <= 2 ? 2 : 8, wg = 16;
      else tm = 16, tn = 16, wg = 8;
      desc.spec = {wg, tm, tn, x_aligned};
      break;
  }
  shader += f16 ? "f16_" : "f32_";
  shader += w.texel ? "texel" : "ssbo";

  desc.shader = shader;
  const BindingKind texel_or_storage = w.texel ? BindingKind::Texel : BindingKind::Storage;
  desc.bindings = {texel_or_storage, BindingKind::Storage, texel_or_storage,
                   BindingKind::Storage, BindingKind::Storage, BindingKind::Storage};
  desc.push_bytes = 7 * 4;
  // shaders/common.glsl EPI_*: activation code | 4 bias | 8 residual.
  const uint32_t epilogue = static_cast<uint32_t>(opt.act) | (opt.bias ? 4u : 0u) | (opt.residual ? 8u : 0u);
  const Pipeline& pipeline = ctx.pipelines().get(desc);

  // The texel view of x is read only when its rows are vec4-aligned; it must exist regardless.
  Bind x_vec4 = Bind::of(x);
  if (w.texel) x_vec4 = Bind::texel(seq.texel_view(x.bytes >= 16 ? x : ctx.zeros(), VK_FORMAT_R32G32B32A32_SFLOAT));
  const char* kind = kernel == LinearKernel::SplitK ? "_gemv "
                     : kernel == LinearKernel::Tiled ? "_tiled "
                     : kernel == LinearKernel::Coop  ? "_coop "
                                                     : " ";
  const std::string label = str(op, kind, m, "x", w.k, "->", w.n, " ", dtype_name(w.dtype));
  for (int64_t c = 0; c < w.chunks(); ++c) {
    const int64_t n0 = c * w.chunk_rows, nc = std::min(w.chunk_rows, w.n - n0);
    const Bind weight = w.texel ? Bind::texel(w.views[size_t(c)])
                                : Bind::range_of(w.packed, VkDeviceSize(n0) * w.row_bytes(), VkDeviceSize(nc) * w.row_bytes());
    const Bind binds[] = {weight, Bind::of(x), x_vec4, Bind::of(opt.bias ? *opt.bias : x),
                          Bind::of(opt.residual ? *opt.residual : x), Bind::of(y)};
    const uint32_t push[7] = {u32(m, "linear M"), u32(nc, "linear N"), u32(w.k, "linear K"),
                              u32(w.kp * int64_t(dtype_size(w.dtype)) / 16, "units"), u32(n0, "n0"), u32(w.n, "ldy"),
                              epilogue};
    if (kernel == LinearKernel::SplitK) {
      const auto grid = grid_2d(ctx, div_up(uint64_t(nc), tn));
      seq.dispatch(pipeline, binds, push, grid[0], grid[1], 1, label);
    } else if (kernel == LinearKernel::Tiled || kernel == LinearKernel::Coop) {
      seq.dispatch(pipeline, binds, push, div_up(uint64_t(nc), tn), div_up(uint64_t(m), tm), 1, label);
    } else {
      seq.dispatch(pipeline, binds, push, div_up(uint64_t(nc), uint64_t(tn) * wg), div_up(uint64_t(m), tm), 1, label);
    }
  }
}

}  // namespace glimpse::vulkan
