// layer_norm and softmax on the CPU: rows over the pool, each row's loops vectorised.
#include "runtime/cpu/backend.hpp"
#include "runtime/cpu/kernels.hpp"
#include "runtime/cpu/pool.hpp"
#include "runtime/sequence.hpp"

#include <optional>
#include <vector>

namespace glimpse::cpu {

namespace {

// One LayerNorm row: y = (x + res - mean) / sqrt(var + eps) * g + b (res optional; y may be x or
// res: the sum goes to v first). Mean and variance are two passes of 8 partial float sums, which
// vectorise (double sums kept the loop scalar: 8-15 ms of a BLIP-base encode, now 4-6).
__attribute__((always_inline)) inline void layer_norm_row_body(const float* x, const float* res, const float* g,
                                                               const float* b, float eps, int64_t n, float* v, float* y) {
  if (res)
    for (int64_t j = 0; j < n; ++j) v[j] = x[j] + res[j];
  else
    std::memcpy(v, x, size_t(n) * 4);
  const int64_t n8 = n / 8 * 8;
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t j = 0; j < n8; j += 8)
    for (int l = 0; l < 8; ++l) part[l] += v[j + l];
  float sum = 0;
  for (int64_t j = n8; j < n; ++j) sum += v[j];
  for (int l = 0; l < 8; ++l) sum += part[l];
  const float mean = sum / float(n);
  float sq[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t j = 0; j < n8; j += 8)
    for (int l = 0; l < 8; ++l) sq[l] += (v[j + l] - mean) * (v[j + l] - mean);
  float var = 0;
  for (int64_t j = n8; j < n; ++j) var += (v[j] - mean) * (v[j] - mean);
  for (int l = 0; l < 8; ++l) var += sq[l];
  const float rstd = 1.0f / std::sqrt(var / float(n) + eps);
  for (int64_t j = 0; j < n; ++j) y[j] = (v[j] - mean) * rstd * g[j] + b[j];
}
GLIMPSE_TARGET_AVX2 void layer_norm_row_avx2(const float* x, const float* res, const float* g, const float* b, float eps,
                                             int64_t n, float* v, float* y) {
  layer_norm_row_body(x, res, g, b, eps, n, v, y);
}
void layer_norm_row_base(const float* x, const float* res, const float* g, const float* b, float eps, int64_t n,
                         float* v, float* y) {
  layer_norm_row_body(x, res, g, b, eps, n, v, y);
}
void layer_norm_row(const float* x, const float* res, const float* g, const float* b, float eps, int64_t n, float* v,
                    float* y) {
  if (has_avx2_fma()) layer_norm_row_avx2(x, res, g, b, eps, n, v, y);
  else layer_norm_row_base(x, res, g, b, eps, n, v, y);
}

void layer_norm_run(const Tensor& x, const Tensor* residual, const Tensor& gamma, const Tensor& beta, float eps,
                    const Tensor& y) {
  const int64_t n = x.dim(-1), rows = x.numel() / n;
  const float *xp = f32(x), *rp = residual ? f32(*residual) : nullptr, *g = f32(gamma), *bt = f32(beta);
  float* yp = f32(y);
  parallel_for(rows, n * 4, [&](int64_t r0, int64_t r1) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r)
      layer_norm_row(xp + r * n, rp ? rp + r * n : nullptr, g, bt, eps, n, v.data(), yp + r * n);
  });
}

void softmax_run(const Tensor& x, const Tensor& y, float scale) {
  const int64_t n = x.dim(-1), rows = x.numel() / n;
  const float* xp = f32(x);
  float* yp = f32(y);
  parallel_for(rows, n * 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (yp != xp) std::memcpy(yp + r * n, xp + r * n, size_t(n) * 4);
      softmax_row(yp + r * n, n, scale);
    }
  });
}

}  // namespace

void CpuBackend::layer_norm(Sequence& seq, const Tensor& x, const Tensor* residual, const Tensor& gamma,
                            const Tensor& beta, float eps, const Tensor& y, int64_t rows, int64_t n) const {
  const std::optional<Tensor> res = residual ? std::optional<Tensor>(*residual) : std::nullopt;
  seq.cpu_step(str("layer_norm", residual ? "+res " : " ", rows, "x", n), [x, res, gamma, beta, eps, y] {
    layer_norm_run(x, res ? &*res : nullptr, gamma, beta, eps, y);
  });
}

void CpuBackend::softmax(Sequence& seq, const Tensor& x, const Tensor& y, float scale, int64_t rows, int64_t n) const {
  seq.cpu_step(str("softmax ", rows, "x", n), [x, y, scale] { softmax_run(x, y, scale); });
}

}  // namespace glimpse::cpu
