// linear's front end: weight packing at load (and the texel views the shaders read them through),
// the arguments checked once, then the backend's recording (runtime/{vulkan,cpu}/linear.cpp).
#include "runtime/backend.hpp"
#include "runtime/half.hpp"
#include "runtime/ops-common.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace glimpse {

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

void linear(Sequence& seq, const Tensor& x, const LinearWeight& w, const Tensor& y, const LinearOptions& opt) {
  Context& ctx = seq.context();
  const char* op = "linear";
  detail::expect_dtype(op, "x", x, DType::F32);
  // fp16 y: fp16 models' cross-attention K/V where the backend reads them (text/decoder.cpp cross_kv_alloc).
  if (y.dtype == DType::F16) {
    if (!ctx.backend().attention_f16_kv())
      fail("linear: an fp16 output (y ", y.describe(), ") needs a backend with fp16 K/V (the CPU backend)");
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
  ctx.backend().linear(seq, x, m, w, y, opt);
}

}  // namespace glimpse
