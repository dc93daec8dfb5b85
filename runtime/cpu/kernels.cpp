#include "runtime/cpu/kernels.hpp"

#include "runtime/device.hpp"

namespace glimpse::cpu {

const Blas& blas() {
  static const Blas* b = [] {
    const Blas* lib = blas_get();
    if (lib) lib->set_threads(1);
    return lib;
  }();
  if (!b) fail("cpu backend: OpenBLAS is not loaded");
  return *b;
}

std::mutex& run_mutex() {
  static std::mutex m;
  return m;
}

// GLIMPSE_CPU_BASELINE=1 runs the baseline loops on any CPU, so tests cover them (ctest
// backend-cpu-baseline) on machines that would otherwise always take the AVX2 ones.
bool baseline_forced() {
  static const bool yes = env_flag("GLIMPSE_CPU_BASELINE");
  return yes;
}
bool has_avx2_fma() {
  static const bool yes = GLIMPSE_X86_SUPPORTS("avx2") && GLIMPSE_X86_SUPPORTS("fma") && !baseline_forced();
  return yes;
}
// y[i] = exp(x[i] - shift), returning the sum (8 partial sums, so the loop vectorises).
__attribute__((always_inline)) inline float exp_sum_body(float* row, int64_t n, float scale, float shift) {
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) {
      row[j + l] = exp_approx(row[j + l] * scale - shift);
      part[l] += row[j + l];
    }
  float sum = 0;
  for (; j < n; ++j) {
    row[j] = exp_approx(row[j] * scale - shift);
    sum += row[j];
  }
  for (int l = 0; l < 8; ++l) sum += part[l];
  return sum;
}
GLIMPSE_TARGET_AVX2 float exp_sum_avx2(float* row, int64_t n, float scale, float shift) { return exp_sum_body(row, n, scale, shift); }
float exp_sum_base(float* row, int64_t n, float scale, float shift) { return exp_sum_body(row, n, scale, shift); }
float exp_sum(float* row, int64_t n, float scale, float shift) {
  return has_avx2_fma() ? exp_sum_avx2(row, n, scale, shift) : exp_sum_base(row, n, scale, shift);
}

// Attention logits: s[j] = s[j] * scale + mask[j] (mask optional) for j < visible, -inf from
// there; returns the row's maximum. GCC does not vectorise a float max reduction without
// fast-math, so the AVX2 version is written with intrinsics.
float logits_max_base(float* s, int64_t n, float scale, const float* mask, int64_t visible) {
  const int64_t end = std::clamp<int64_t>(visible, 0, n);
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < end; ++j) {
    s[j] = s[j] * scale + (mask ? mask[j] : 0.0f);
    mx = std::max(mx, s[j]);
  }
  std::fill(s + end, s + n, -std::numeric_limits<float>::infinity());
  return mx;
}
#ifdef GLIMPSE_CPU_X86
GLIMPSE_TARGET_AVX2 float logits_max_avx2(float* s, int64_t n, float scale, const float* mask, int64_t visible) {
  const int64_t end = std::clamp<int64_t>(visible, 0, n), end8 = end / 8 * 8;
  const __m256 vscale = _mm256_set1_ps(scale);
  __m256 vmax = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t j = 0; j < end8; j += 8) {
    const __m256 x = _mm256_loadu_ps(s + j);
    const __m256 y = mask ? _mm256_fmadd_ps(x, vscale, _mm256_loadu_ps(mask + j)) : _mm256_mul_ps(x, vscale);
    _mm256_storeu_ps(s + j, y);
    vmax = _mm256_max_ps(vmax, y);
  }
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  const float tail = logits_max_base(s + end8, n - end8, scale, mask ? mask + end8 : nullptr, end - end8);
  return std::max(_mm_cvtss_f32(h), tail);
}
#else
float logits_max_avx2(float*, int64_t, float, const float*, int64_t) { return 0; }
#endif
float logits_max(float* s, int64_t n, float scale, const float* mask, int64_t visible) {
  return has_avx2_fma() ? logits_max_avx2(s, n, scale, mask, visible) : logits_max_base(s, n, scale, mask, visible);
}

#ifdef GLIMPSE_CPU_X86
bool has_f16c() {
  static const bool yes = [] {
    if (baseline_forced()) return false;
    unsigned a = 0, b = 0, c = 0, d = 0;  // F16C from CPUID (clang's __builtin_cpu_supports lacks the name)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __get_cpuid(1, &a, &b, &c, &d) &&
           (c & bit_F16C) != 0;
  }();
  return yes;
}

GLIMPSE_TARGET_F16C void halves_to_floats_f16c(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = half_to_float(src[i]);
}
// Rounded to nearest even, as float_to_half.
GLIMPSE_TARGET_F16C void floats_to_halves_f16c(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) dst[i] = float_to_half(src[i]);
}

#else
bool has_f16c() { return false; }
void halves_to_floats_f16c(const uint16_t*, float*, int64_t) {}
void floats_to_halves_f16c(const float*, uint16_t*, int64_t) {}
#endif

void halves_to_floats(const uint16_t* src, float* dst, int64_t n) {
  if (has_f16c()) return halves_to_floats_f16c(src, dst, n);
  for (int64_t i = 0; i < n; ++i) dst[i] = half_to_float(src[i]);
}
void floats_to_halves(const float* src, uint16_t* dst, int64_t n) {
  if (has_f16c()) return floats_to_halves_f16c(src, dst, n);
  for (int64_t i = 0; i < n; ++i) dst[i] = float_to_half(src[i]);
}

void softmax_row(float* row, int64_t n, float scale, const float* mask, int64_t visible) {
  const float mx = logits_max(row, n, scale, mask, visible);
  if (mx == -std::numeric_limits<float>::infinity()) {
    std::fill(row, row + n, 0.0f);
    return;
  }
  const float inv = 1.0f / exp_sum(row, n, 1.0f, mx);
  for (int64_t j = 0; j < n; ++j) row[j] *= inv;
}


}  // namespace glimpse::cpu
