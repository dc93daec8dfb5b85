// linear: weight packing at load, kernel choice and GEMM splitting along N at record time.
#include "runtime/half.hpp"
#include "runtime/ops-common.hpp"
#include "runtime/ops-host.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace glimpse {

using detail::div_up;
using detail::u32;

namespace {

float host_value(const void* data, HostType src, size_t i) {
  switch (src) {
    case HostType::F32: { float f; std::memcpy(&f, static_cast<const char*>(data) + 4 * i, 4); return f; }
    case HostType::F16: { uint16_t h; std::memcpy(&h, static_cast<const char*>(data) + 2 * i, 2); return half_to_float(h); }
    case HostType::BF16: { uint16_t h; std::memcpy(&h, static_cast<const char*>(data) + 2 * i, 2); return bf16_to_float(h); }
  }
  return 0;
}

}  // namespace

LinearWeight linear_weight_upload(Context& ctx, Allocator& arena, const void* data, HostType src, int64_t n,
                                  int64_t k, WeightLayout layout, DType store) {
  if (n <= 0 || k <= 0) fail("linear weight: bad shape [", n, ", ", k, "]");
  if (store != DType::F32 && store != DType::F16) fail("linear weight: storage type must be f32 or f16");
  const Caps& caps = ctx.caps();
  LinearWeight w;
  w.n = n;
  w.k = k;
  w.kp = (k + 7) / 8 * 8;
  w.dtype = store == DType::F16 && caps.f16_weights ? DType::F16 : DType::F32;
  w.texel = caps.texel_weights;

  // Rows per chunk: what one binding (storage range or texel count) holds, a multiple of 64 so
  // every chunk offset keeps the device's offset alignment.
  const VkDeviceSize row_bytes = w.row_bytes();
  const int64_t fit = static_cast<int64_t>(caps.max_binding_bytes / row_bytes) / 64 * 64;
  if (fit == 0) fail("linear weight [", n, ", ", k, "]: one row needs ", row_bytes, " bytes, binding limit is ", caps.max_binding_bytes);
  w.chunk_rows = std::min<int64_t>(fit, n);

  // Pack [N, Kp] (transposing Conv1D's [K, N]) straight into mapped memory, or on the host and
  // upload once. (Straight in: no second copy of the biggest weight at the load's peak.)
  w.packed = arena.alloc(w.dtype, {n, w.kp});
  const size_t count = size_t(n) * size_t(w.kp);
  std::vector<float> f32_host;
  std::vector<uint16_t> f16_host;
  float* f32 = nullptr;
  uint16_t* f16 = nullptr;
  if (w.packed.mapped) {
    std::memset(w.packed.mapped, 0, w.packed.bytes);
    if (w.dtype == DType::F32) f32 = reinterpret_cast<float*>(w.packed.mapped);
    else f16 = reinterpret_cast<uint16_t*>(w.packed.mapped);
  } else if (w.dtype == DType::F32) {
    f32_host.assign(count, 0.0f);
    f32 = f32_host.data();
  } else {
    f16_host.assign(count, 0);
    f16 = f16_host.data();
  }
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      const size_t from = layout == WeightLayout::OutIn ? size_t(r * k + c) : size_t(c * n + r);
      const size_t to = size_t(r * w.kp + c);
      if (w.dtype == DType::F32) f32[to] = host_value(data, src, from);
      // An fp16 source is copied bit-exactly; anything else rounds to nearest even.
      else if (src == HostType::F16) std::memcpy(&f16[to], static_cast<const char*>(data) + 2 * from, 2);
      else f16[to] = float_to_half(host_value(data, src, from));
    }
  }
  if (!w.packed.mapped)
    tensor_upload(ctx, w.packed, w.dtype == DType::F32 ? static_cast<const void*>(f32) : f16, w.packed.bytes);

  if (w.texel) {
    const VkFormat format = w.dtype == DType::F32 ? VK_FORMAT_R32G32B32A32_SFLOAT : VK_FORMAT_R32G32B32A32_UINT;
    for (int64_t c = 0; c < w.chunks(); ++c) {
      const int64_t rows = std::min(w.chunk_rows, n - c * w.chunk_rows);
      VkBufferViewCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO};
      info.buffer = w.packed.buffer;
      info.format = format;
      info.offset = w.packed.offset + VkDeviceSize(c * w.chunk_rows) * row_bytes;
      info.range = VkDeviceSize(rows) * row_bytes;
      VkBufferView view = VK_NULL_HANDLE;
      VK_CHECK(vkCreateBufferView(ctx.device(), &info, nullptr, &view));
      w.views.emplace_back(ctx.device(), view);
    }
  }
  return w;
}

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

void linear(Sequence& seq, const Tensor& x, const LinearWeight& w, const Tensor& y, const LinearOptions& opt) {
  Context& ctx = seq.context();
  const char* op = "linear";
  detail::expect_dtype(op, "x", x, DType::F32);
  // fp16 y: the host backend's fp16 cross-attention K/V (text/decoder.cpp cross_kv_alloc).
  if (y.dtype == DType::F16) {
    if (!ctx.caps().host_ops) fail("linear: an fp16 output (y ", y.describe(), ") needs the host backend");
    if (opt.residual) fail("linear: an fp16 output (y ", y.describe(), ") takes no residual");
  } else {
    detail::expect_dtype(op, "y", y, DType::F32);
  }
  if (x.rank() == 0 || x.dim(-1) != w.k)
    fail("linear: x ", x.describe(), " must end in K = ", w.k, " (weight [", w.n, ", ", w.k, "])");
  const int64_t m = x.numel() / w.k;
  detail::expect_numel(op, "y", y, m * w.n);
  if (opt.bias) {
    detail::expect_dtype(op, "bias", *opt.bias, DType::F32);
    detail::expect_numel(op, "bias", *opt.bias, w.n);
  }
  if (opt.residual) {
    detail::expect_dtype(op, "residual", *opt.residual, DType::F32);
    detail::expect_numel(op, "residual", *opt.residual, m * w.n);
  }
  if (m == 0) return;

  if (opt.kernel == LinearKernel::SplitK && m > 8) fail("linear: the split-K GEMV kernel takes at most 8 rows, found ", m);
  const Caps& caps = ctx.caps();
  if (caps.host_ops) {
    // Copies, not pointers: the step runs after the caller's objects may be gone.
    const host::HostWeight hw{w.packed, w.n, w.k, w.kp, w.dtype};
    const std::optional<Tensor> bias = opt.bias ? std::optional<Tensor>(*opt.bias) : std::nullopt;
    const std::optional<Tensor> residual = opt.residual ? std::optional<Tensor>(*opt.residual) : std::nullopt;
    seq.host(str(op, " ", m, "x", w.k, "->", w.n), [x, m, hw, y, bias, residual, act = opt.act] {
      host::linear(x, m, hw, y, bias ? &*bias : nullptr, act, residual ? &*residual : nullptr);
    });
    return;
  }
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
      const auto grid = detail::grid_2d(ctx, div_up(uint64_t(nc), tn));
      seq.dispatch(pipeline, binds, push, grid[0], grid[1], 1, label);
    } else if (kernel == LinearKernel::Tiled || kernel == LinearKernel::Coop) {
      seq.dispatch(pipeline, binds, push, div_up(uint64_t(nc), tn), div_up(uint64_t(m), tm), 1, label);
    } else {
      seq.dispatch(pipeline, binds, push, div_up(uint64_t(nc), uint64_t(tn) * wg), div_up(uint64_t(m), tm), 1, label);
    }
  }
}

}  // namespace glimpse
