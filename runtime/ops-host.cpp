#include "runtime/ops-host.hpp"

#include "runtime/blas.hpp"
#include "runtime/device.hpp"
#include "runtime/error.hpp"
#include "runtime/half.hpp"
#include "runtime/host-pool.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <type_traits>
#include <vector>


#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define GLIMPSE_HOST_X86 1
#define GLIMPSE_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define GLIMPSE_X86_SUPPORTS(feature) __builtin_cpu_supports(feature)
#else
#define GLIMPSE_TARGET_AVX2
#define GLIMPSE_X86_SUPPORTS(feature) false
#endif

namespace glimpse::host {

namespace {

float* f32(const Tensor& t) {
  if (!t.mapped) fail("host backend: tensor ", t.describe(), " is not host-mapped");
  return reinterpret_cast<float*>(t.mapped);
}
uint32_t* u32p(const Tensor& t) {
  if (!t.mapped) fail("host backend: tensor ", t.describe(), " is not host-mapped");
  return reinterpret_cast<uint32_t*>(t.mapped);
}
uint16_t* u16p(const Tensor& t) {  // fp16 values
  if (!t.mapped) fail("host backend: tensor ", t.describe(), " is not host-mapped");
  return reinterpret_cast<uint16_t*>(t.mapped);
}

// OpenBLAS on one thread: the backend splits its GEMMs over the pool itself (column pieces,
// attention heads), so that each piece's widening, product and epilogue stay on one core and
// OpenBLAS's own threads never spin (sched_yield) beside ours between its calls.
const Blas& blas() {
  static const Blas* b = [] {
    const Blas* lib = blas_get();
    if (lib) lib->set_threads(1);
    return lib;
  }();
  if (!b) fail("host backend: OpenBLAS is not loaded");
  return *b;
}

// ---- vector math ----------------------------------------------------------------------------------
// The encoder spends its non-GEMM time in exp (attention softmax: 4M per layer for BLIP-base)
// and erf (GELU: 1.8M per layer). libm's are scalar calls; these are branch-free so the loops
// below vectorise (AVX2 where the CPU has it; GCC if-converts their compares and selects only
// with -fno-trapping-math, which CMakeLists.txt sets for this file), at float accuracy: exp
// within ~2 ulp (Cephes expf's polynomial), erf within 1.5e-7 absolute (Abramowitz & Stegun 7.1.26).

inline float bits_to_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}

__attribute__((always_inline)) inline float exp_approx(float x) {
  const float xc = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::floor(xc * 1.44269504088896341f + 0.5f);
  const float r = xc - n * 0.693359375f + n * 2.12194440e-4f;  // ln 2 in two parts
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  const float v = y * bits_to_float((int32_t(n) + 127) << 23);
  return x < -87.0f ? 0.0f : v;  // exp(-inf) (masked keys) is exactly 0
}

__attribute__((always_inline)) inline float erf_approx(float x) {
  const float a = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  const float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
  const float y = 1.0f - poly * exp_approx(-a * a);
  return std::copysign(y, x);
}

// As shaders/common.glsl: GELU with erf (BERT, ViT) or tanh (GPT-2).
__attribute__((always_inline)) inline float gelu_erf(float v) { return 0.5f * v * (1.0f + erf_approx(v * 0.70710678118654752f)); }
inline float gelu_tanh(float v) { return 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v))); }

// Loops compiled twice: for AVX2 + FMA and for the baseline, chosen once at run time.
// GLIMPSE_HOST_BASELINE=1 runs the baseline loops on any CPU, so tests cover them (ctest
// backend-host-baseline) on machines that would otherwise always take the AVX2 ones.
bool baseline_forced() {
  static const bool yes = env_flag("GLIMPSE_HOST_BASELINE");
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
#ifdef GLIMPSE_HOST_X86
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

// fp16 -> fp32 with F16C when the CPU has it (every x86-64 since 2013), else one by one.
#ifdef GLIMPSE_HOST_X86
bool has_f16c() {
  static const bool yes = [] {
    if (baseline_forced()) return false;
    unsigned a = 0, b = 0, c = 0, d = 0;  // F16C from CPUID (clang's __builtin_cpu_supports lacks the name)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __get_cpuid(1, &a, &b, &c, &d) &&
           (c & bit_F16C) != 0;
  }();
  return yes;
}

__attribute__((target("avx2,fma,f16c"))) void halves_to_floats_f16c(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = half_to_float(src[i]);
}
// Rounded to nearest even, as float_to_half.
__attribute__((target("avx2,fma,f16c"))) void floats_to_halves_f16c(const float* src, uint16_t* dst, int64_t n) {
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

// Decode attention over a few queries, one (batch, head) and query at a time: the scores
// s[j] = q . k_j over the keys, then o = sum_j s[j] v_j, with K and V in fp32 or fp16 (the
// cross-attention K/V of fp16 models: decoding reads all of them every token, so half the
// bytes is also less time). Both are float sum reductions, which GCC keeps scalar without
// fast-math, so the SIMD versions are written with intrinsics: four keys' dot products at a time,
// and all of a head's columns in registers with the keys outermost (independent FMA chains: one
// chain per key or column left BLIP-base's cross-attention over 577 keys latency-bound at 2.8 ms
// a token).
inline float to_float(float x) { return x; }
inline float to_float(uint16_t h) { return half_to_float(h); }
template <typename T>
void decode_scores_base(const float* q, const T* k, int64_t k_stride, int64_t tk, int64_t dh, float* s) {
  for (int64_t j = 0; j < tk; ++j) {
    float dot = 0;
    for (int64_t d = 0; d < dh; ++d) dot += q[d] * to_float(k[j * k_stride + d]);
    s[j] = dot;
  }
}
template <typename T>
void decode_weighted_sum_base(const float* s, const T* v, int64_t v_stride, int64_t tk, int64_t dh, float* o) {
  std::fill(o, o + dh, 0.0f);
  for (int64_t j = 0; j < tk; ++j)
    for (int64_t d = 0; d < dh; ++d) o[d] += s[j] * to_float(v[j * v_stride + d]);
}
#ifdef GLIMPSE_HOST_X86
#define GLIMPSE_TARGET_F16C __attribute__((target("avx2,fma,f16c")))
GLIMPSE_TARGET_AVX2 inline float hsum(__m256 v) {
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 p = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(p, _mm_shuffle_ps(p, p, 1)));
}
GLIMPSE_TARGET_F16C inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
GLIMPSE_TARGET_F16C inline __m256 load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
// Keys and values are rows of a head's dh columns, a whole token's K | V apart (3 KB for BLIP's
// fp16 cross-attention): too far apart for the hardware prefetchers, so each 128-byte fp16 row
// was a wait on memory. The row kPrefetchRows ahead is asked for early (BLIP-base's cross-
// attention per token on 2 cores: 1.36 -> 0.72 ms; 8 rows ahead 0.83-0.96, 64 0.73-0.76). fp32
// rows (256 bytes) reach the memory bandwidth without it: asking made them slower (1.25 -> 1.32
// at 32 rows ahead, 1.29-1.36 at 8 or 16).
template <typename T>
constexpr int64_t kPrefetchRows = sizeof(T) == 2 ? 32 : 0;
template <typename T>
inline void prefetch_row(const T* row, int64_t n) {
  if constexpr (kPrefetchRows<T> == 0) return;
  const char* p = reinterpret_cast<const char*>(row);
  for (int64_t b = 0; b < n * int64_t(sizeof(T)); b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
}
template <typename T>
GLIMPSE_TARGET_F16C void decode_scores_simd(const float* q, const T* k, int64_t k_stride, int64_t tk, int64_t dh,
                                            float* s) {
  if (dh % 8) return decode_scores_base(q, k, k_stride, tk, dh, s);
  int64_t j = 0;
  for (; j + 4 <= tk; j += 4) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const T *k0 = k + j * k_stride, *k1 = k0 + k_stride, *k2 = k1 + k_stride, *k3 = k2 + k_stride;
    if (j + kPrefetchRows<T> + 4 <= tk)
      for (int64_t r = 0; r < 4; ++r) prefetch_row(k + (j + kPrefetchRows<T> + r) * k_stride, dh);
    for (int64_t d = 0; d < dh; d += 8) {
      const __m256 qd = _mm256_loadu_ps(q + d);
      a0 = _mm256_fmadd_ps(qd, load8(k0 + d), a0);
      a1 = _mm256_fmadd_ps(qd, load8(k1 + d), a1);
      a2 = _mm256_fmadd_ps(qd, load8(k2 + d), a2);
      a3 = _mm256_fmadd_ps(qd, load8(k3 + d), a3);
    }
    s[j] = hsum(a0), s[j + 1] = hsum(a1), s[j + 2] = hsum(a2), s[j + 3] = hsum(a3);
  }
  for (; j < tk; ++j) {
    __m256 a = _mm256_setzero_ps();
    for (int64_t d = 0; d < dh; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8(k + j * k_stride + d), a);
    s[j] = hsum(a);
  }
}
// NC vectors of columns: a compile-time count keeps the accumulators in registers (a run-time
// one kept them on the stack, each FMA waiting on the last one's store: BLIP-base's fp16 cross-
// attention took 1.66 ms a token that way, 1.36 without).
template <int NC, typename T>
GLIMPSE_TARGET_F16C void weighted_sum_cols(const float* s, const T* v, int64_t v_stride, int64_t tk, float* o) {
  __m256 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t j = 0; j < tk; ++j) {
    const __m256 w = _mm256_set1_ps(s[j]);
    const T* vj = v + j * v_stride;
    if (j + kPrefetchRows<T> < tk) prefetch_row(vj + kPrefetchRows<T> * v_stride, 8 * NC);
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_fmadd_ps(w, load8(vj + 8 * c), acc[c]);
  }
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(o + 8 * c, acc[c]);
}
template <typename T>
GLIMPSE_TARGET_F16C void decode_weighted_sum_simd(const float* s, const T* v, int64_t v_stride, int64_t tk, int64_t dh,
                                                  float* o) {
  if (dh % 8) return decode_weighted_sum_base(s, v, v_stride, tk, dh, o);
  for (int64_t c0 = 0; c0 < dh; c0 += 64) {  // 64 columns (8 vectors) at a time
    const T* vc = v + c0;
    float* oc = o + c0;
    switch ((std::min<int64_t>(64, dh - c0)) / 8) {
      case 1: weighted_sum_cols<1>(s, vc, v_stride, tk, oc); break;
      case 2: weighted_sum_cols<2>(s, vc, v_stride, tk, oc); break;
      case 3: weighted_sum_cols<3>(s, vc, v_stride, tk, oc); break;
      case 4: weighted_sum_cols<4>(s, vc, v_stride, tk, oc); break;
      case 5: weighted_sum_cols<5>(s, vc, v_stride, tk, oc); break;
      case 6: weighted_sum_cols<6>(s, vc, v_stride, tk, oc); break;
      case 7: weighted_sum_cols<7>(s, vc, v_stride, tk, oc); break;
      default: weighted_sum_cols<8>(s, vc, v_stride, tk, oc); break;
    }
  }
}
#else
template <typename T>
void decode_scores_simd(const float*, const T*, int64_t, int64_t, int64_t, float*) {}
template <typename T>
void decode_weighted_sum_simd(const float*, const T*, int64_t, int64_t, int64_t, float*) {}
#endif
// The SIMD versions need F16C for fp16 K/V; every CPU with AVX2 and FMA has it.
template <typename T>
void decode_scores(const float* q, const T* k, int64_t k_stride, int64_t tk, int64_t dh, float* s) {
  if (has_f16c()) decode_scores_simd(q, k, k_stride, tk, dh, s);
  else decode_scores_base(q, k, k_stride, tk, dh, s);
}
template <typename T>
void decode_weighted_sum(const float* s, const T* v, int64_t v_stride, int64_t tk, int64_t dh, float* o) {
  if (has_f16c()) decode_weighted_sum_simd(s, v, v_stride, tk, dh, o);
  else decode_weighted_sum_base(s, v, v_stride, tk, dh, o);
}

// dst[j] = act(src[j] + bias[j]) + res[j] over one row (bias, res optional; src and res may be
// dst). In chunks through a stack buffer, the bias, activation and residual choices made per
// chunk: each element loop is straight-line and vectorises. (Choosing per element kept GELU
// scalar: 12.5 ms for BLIP-base's 577x768->3072 fc1 with GELU against 7.3 ms without.)
__attribute__((always_inline)) inline void epilogue_row_body(const float* src, const float* bias, const float* res,
                                                             float* dst, int64_t n, Activation act) {
  constexpr int64_t kChunk = 256;
  float t[kChunk];
  for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
    const int64_t c = std::min(kChunk, n - j0);
    if (bias)
      for (int64_t j = 0; j < c; ++j) t[j] = src[j0 + j] + bias[j0 + j];
    else
      for (int64_t j = 0; j < c; ++j) t[j] = src[j0 + j];
    if (act == Activation::GeluErf)
      for (int64_t j = 0; j < c; ++j) t[j] = gelu_erf(t[j]);
    else if (act == Activation::GeluTanh)
      for (int64_t j = 0; j < c; ++j) t[j] = gelu_tanh(t[j]);
    if (res)
      for (int64_t j = 0; j < c; ++j) dst[j0 + j] = t[j] + res[j0 + j];
    else
      for (int64_t j = 0; j < c; ++j) dst[j0 + j] = t[j];
  }
}
GLIMPSE_TARGET_AVX2 void epilogue_row_avx2(const float* src, const float* bias, const float* res, float* dst, int64_t n,
                                           Activation act) {
  epilogue_row_body(src, bias, res, dst, n, act);
}
void epilogue_row_base(const float* src, const float* bias, const float* res, float* dst, int64_t n, Activation act) {
  epilogue_row_body(src, bias, res, dst, n, act);
}
void epilogue_row(const float* src, const float* bias, const float* res, float* dst, int64_t n, Activation act) {
  if (has_avx2_fma()) epilogue_row_avx2(src, bias, res, dst, n, act);
  else epilogue_row_base(src, bias, res, dst, n, act);
}

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

}  // namespace

std::mutex& run_mutex() {
  static std::mutex m;
  return m;
}

// ---- linear -------------------------------------------------------------------------------------

namespace {

// Decode with fp16 weights: x . W^T for r < m <= 8 rows and columns [j0, j1) into
// acc_out[r * (j1 - j0) + j - j0], each weight row read once (half the bytes of fp32: decode
// streams the weights, so this is where fp16 pays on a CPU).
#ifdef GLIMPSE_HOST_X86
__attribute__((target("avx2,fma,f16c"))) void gemv_f16_avx2(const float* x, int64_t m, const uint16_t* w, int64_t kp,
                                                             int64_t k, int64_t j0, int64_t j1, float* acc_out) {
  const int64_t k8 = k / 8 * 8;
  if (m == 1) {
    // One row (greedy decode): four accumulators, so the FMA chain is not the limit.
    const int64_t k32 = k / 32 * 32;
    for (int64_t j = j0; j < j1; ++j) {
      const uint16_t* wj = w + j * kp;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
#define GLIMPSE_WV(c) _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wj + (c))))
      int64_t c = 0;
      for (; c < k32; c += 32) {
        a0 = _mm256_fmadd_ps(GLIMPSE_WV(c), _mm256_loadu_ps(x + c), a0);
        a1 = _mm256_fmadd_ps(GLIMPSE_WV(c + 8), _mm256_loadu_ps(x + c + 8), a1);
        a2 = _mm256_fmadd_ps(GLIMPSE_WV(c + 16), _mm256_loadu_ps(x + c + 16), a2);
        a3 = _mm256_fmadd_ps(GLIMPSE_WV(c + 24), _mm256_loadu_ps(x + c + 24), a3);
      }
      for (; c < k8; c += 8) a0 = _mm256_fmadd_ps(GLIMPSE_WV(c), _mm256_loadu_ps(x + c), a0);
#undef GLIMPSE_WV
      float sum = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
      for (; c < k; ++c) sum += half_to_float(wj[c]) * x[c];
      acc_out[j - j0] = sum;
    }
    return;
  }
  for (int64_t j = j0; j < j1; ++j) {
    const uint16_t* wj = w + j * kp;
    __m256 acc[8];
    for (int64_t r = 0; r < m; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t c = 0; c < k8; c += 8) {
      const __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wj + c)));
      for (int64_t r = 0; r < m; ++r) acc[r] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * k + c), acc[r]);
    }
    for (int64_t r = 0; r < m; ++r) {
      float sum = hsum(acc[r]);
      for (int64_t c = k8; c < k; ++c) sum += half_to_float(wj[c]) * x[r * k + c];
      acc_out[r * (j1 - j0) + j - j0] = sum;
    }
  }
}
#else
void gemv_f16_avx2(const float*, int64_t, const uint16_t*, int64_t, int64_t, int64_t, int64_t, float*) {}
#endif

void gemv_f16_plain(const float* x, int64_t m, const uint16_t* w, int64_t kp, int64_t k, int64_t j0, int64_t j1,
                    float* acc_out) {
  for (int64_t j = j0; j < j1; ++j)
    for (int64_t r = 0; r < m; ++r) {
      float sum = 0;
      for (int64_t c = 0; c < k; ++c) sum += half_to_float(w[j * kp + c]) * x[r * k + c];
      acc_out[r * (j1 - j0) + j - j0] = sum;
    }
}

}  // namespace

void linear(const Tensor& x, int64_t m, const HostWeight& w, const Tensor& y, const Tensor* bias, Activation act,
            const Tensor* residual) {
  const int64_t n = w.n, k = w.k;
  const float* xp = f32(x);
  // y is fp32, or fp16 without a residual (fp16 models' cross-attention K/V; the op validates
  // that): the epilogue then runs in fp32 and its rows are rounded to y.
  const bool half_y = y.dtype == DType::F16;
  float* yp = half_y ? nullptr : f32(y);
  uint16_t* yh = half_y ? u16p(y) : nullptr;
  const float* rp = residual ? f32(*residual) : nullptr;
  const float* bp = bias ? f32(*bias) : nullptr;
  if (w.dtype == DType::F16 && m <= 8) {
    const uint16_t* wp = u16p(w.packed);
    parallel_for(n, m * k, [&](int64_t j0, int64_t j1) {
      const int64_t nj = j1 - j0;
      float* const acc = scratch().product.get(size_t(nj * m));
      if (has_f16c()) gemv_f16_avx2(xp, m, wp, w.kp, k, j0, j1, acc);
      else gemv_f16_plain(xp, m, wp, w.kp, k, j0, j1, acc);
      for (int64_t r = 0; r < m; ++r) {  // rp may be yp: epilogue_row reads before it writes
        float* row = acc + r * nj;
        epilogue_row(row, bp ? bp + j0 : nullptr, rp ? rp + r * n + j0 : nullptr, half_y ? row : yp + r * n + j0, nj,
                     act);
        if (half_y) floats_to_halves(row, yh + r * n + j0, nj);
      }
    });
    return;
  }
  const Blas& b = blas();
  // Tiles over the pool, each through one core: its fp16 weights widened a slab at a time (hot in
  // cache for the GEMM), the single-threaded GEMM, then the epilogue on the product while it is in
  // cache. Column pieces of at least 256 (each GEMM packs its rows of x again), one per thread
  // where n allows, and row blocks of at least 64 for the threads left over (many cores, narrow
  // layers). y may be the residual itself: the GEMM then accumulates onto it (beta 1) when
  // nothing comes between, else the product goes to scratch first.
  const bool f16 = w.dtype == DType::F16, in_place = rp && rp == yp;
  const bool direct = !half_y && !bp && act == Activation::None && (!rp || in_place);  // no epilogue pass
  const float beta = in_place && direct ? 1.0f : 0.0f;
  const int64_t threads = pool_threads();
  const int64_t col_pieces = std::clamp<int64_t>(n / 256, 1, threads);
  const int64_t row_blocks = std::clamp<int64_t>(threads / col_pieces, 1, std::max<int64_t>(1, m / 64));
  const int64_t piece = (n + col_pieces - 1) / col_pieces, rows = (m + row_blocks - 1) / row_blocks;
  // fp16 slabs of ~1.5 MB for one image; each slab's GEMM packs x again, so they grow with m and
  // batches keep whole pieces (batch 8 with 1.5 MB slabs: 0.93x the fp32 weights' throughput).
  const int64_t slab_floats = std::max<int64_t>(int64_t(3) << 17, m * 512);
  const int64_t slab = f16 ? std::max<int64_t>(16, slab_floats / w.kp / 16 * 16) : piece;
  parallel_for(col_pieces * row_blocks, rows * k * piece, [&](int64_t t0, int64_t t1) {
    Scratch& sc = scratch();
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = t / col_pieces * rows, mr = std::min(rows, m - r0);
      const int64_t c0 = t % col_pieces * piece, c1 = std::min(n, c0 + piece);
      if (mr <= 0 || c0 >= n) continue;  // rounding up can leave the last row block empty (> 64 threads)
      for (int64_t j0 = c0; j0 < c1; j0 += slab) {
        const int64_t nj = std::min(slab, c1 - j0);
        const float* wp;
        if (f16) {
          float* wide = sc.widened.get(size_t(nj * w.kp));
          halves_to_floats(u16p(w.packed) + j0 * w.kp, wide, nj * w.kp);
          wp = wide;
        } else {
          wp = f32(w.packed) + j0 * w.kp;
        }
        float* out = half_y ? nullptr : yp + r0 * n + j0;
        int64_t ldo = n;
        if ((in_place && !direct) || half_y) out = sc.product.get(size_t(mr * nj)), ldo = nj;
        const float* xr = xp + r0 * k;
        if (mr == 1) b.sgemv(Blas::kRowMajor, Blas::kNoTrans, int(nj), int(k), 1.0f, wp, int(w.kp), xr, 1, beta, out, 1);
        else b.sgemm(Blas::kRowMajor, Blas::kNoTrans, Blas::kTrans, int(mr), int(nj), int(k), 1.0f, xr, int(k), wp,
                     int(w.kp), beta, out, int(ldo));
        if (!direct)
          for (int64_t r = 0; r < mr; ++r) {  // rp may be yp: epilogue_row reads before it writes
            float* row = out + r * ldo;
            epilogue_row(row, bp ? bp + j0 : nullptr, rp ? rp + (r0 + r) * n + j0 : nullptr,
                         half_y ? row : yp + (r0 + r) * n + j0, nj, act);
            if (half_y) floats_to_halves(row, yh + (r0 + r) * n + j0, nj);
          }
      }
    }
  });
}

// ---- normalisation ------------------------------------------------------------------------------

void layer_norm(const Tensor& x, const Tensor* residual, const Tensor& gamma, const Tensor& beta, float eps,
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

namespace {

// row[0..n) = softmax(row * scale + mask) in place over its first `visible` entries (mask
// optional), 0 past them; entries at -inf stay 0, and a row with nothing visible is all 0, as
// the shaders give.
void softmax_row(float* row, int64_t n, float scale, const float* mask = nullptr,
                 int64_t visible = std::numeric_limits<int64_t>::max()) {
  const float mx = logits_max(row, n, scale, mask, visible);
  if (mx == -std::numeric_limits<float>::infinity()) {
    std::fill(row, row + n, 0.0f);
    return;
  }
  const float inv = 1.0f / exp_sum(row, n, 1.0f, mx);
  for (int64_t j = 0; j < n; ++j) row[j] *= inv;
}

}  // namespace

void softmax(const Tensor& x, const Tensor& y, float scale) {
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

// ---- attention ----------------------------------------------------------------------------------

// Many-query attention's scores per block of queries (see attention()): 256 KB, within a core's
// L2 on most x86 CPUs. BLIP-base's 577 x 577 x 12 heads on 2 cores (bench ops, 4 interleaved
// runs): 3.75-3.89 ms against 3.93-4.12 with a whole head's 1.3 MB at once; 128 KB (53 rows for
// 577 keys) was slower, 4.44-4.52 ms, its GEMMs too thin.
constexpr size_t kScoresBlockBytes = size_t(256) << 10;

void attention(const AttentionArgs& a) {
  const uint32_t tk = a.kv_len + (a.kv_len_add_past ? u32p(*a.step)[0] : 0u);
  const uint32_t tq = a.q_len, dh = a.head_dim;
  const float scale = a.scale != 0 ? a.scale : 1.0f / std::sqrt(float(dh));
  const float* q = f32(*a.q.t) + a.q.offset;
  float* o = f32(*a.o.t) + a.o.offset;
  const float* mask = a.mask ? f32(*a.mask) : nullptr;
  // Scores of one (batch, head): row i holds query i's logits over the keys, then its weights.
  auto weights_finish = [&](float* s, uint32_t b, uint32_t i) {
    const float* mrow = mask ? mask + size_t(b) * a.mask_batch_stride : nullptr;
    const int64_t visible = a.causal ? int64_t(tk) - int64_t(tq) + int64_t(i) + 1 : int64_t(tk);
    softmax_row(s, tk, scale, mrow, visible);
  };
  const size_t pairs = size_t(a.batch) * a.heads;
  // K and V are fp32, or both fp16 (fp16 models' cross-attention K/V; the op validates that):
  // the rest is written once over either element type.
  const auto run = [&](const auto* k, const auto* v) {
    using T = std::decay_t<decltype(*k)>;  // float or uint16_t (fp16)
    if (tq > 8) {
      // Prefill / encoder: blocks of queries of the (batch, head) pairs over the pool, each through
      // one core: its scores (OpenBLAS, single-threaded), softmax rows and weighted sum. A block's
      // scores stay within kScoresBlockBytes of that core's scratch, so the softmax and the second
      // GEMM find them in its cache; more blocks where there are more threads than pairs. A thread
      // takes consecutive blocks: mostly of one head, whose K and V stay in its cache too.
      const Blas& bl = blas();
      const int64_t threads = pool_threads();
      const int64_t fit_rows = std::max<int64_t>(16, int64_t(kScoresBlockBytes / (size_t(tk) * 4)));
      const int64_t for_threads =
          std::clamp<int64_t>((threads + int64_t(pairs) - 1) / int64_t(pairs), 1, std::max(1u, tq / 32));
      const int64_t qblocks = std::max(for_threads, (int64_t(tq) + fit_rows - 1) / fit_rows);
      const int64_t qrows = (int64_t(tq) + qblocks - 1) / qblocks;
      parallel_for(int64_t(pairs) * qblocks, qrows * tk * dh * 4, [&](int64_t t0, int64_t t1) {
        Scratch& sc = scratch();
        float* const scores = sc.scores.get(size_t(qrows) * tk);
        int64_t widened = -1;  // the pair whose fp16 K and V are in sc.widened
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t p = t / qblocks, i0 = t % qblocks * qrows, mq = std::min<int64_t>(qrows, tq - i0);
          if (mq <= 0) continue;
          const uint32_t b = uint32_t(p / a.heads), h = uint32_t(p % a.heads);
          const float *kb, *vb;
          int64_t ldk = a.k.token_stride, ldv = a.v.token_stride;
          const auto* ks = k + size_t(b) * a.k.batch_stride + h * dh;
          const auto* vs = v + size_t(b) * a.v.batch_stride + h * dh;
          if constexpr (std::is_same_v<T, uint16_t>) {
            // The head's K and V widened for the GEMMs (2 x 148 KB for BLIP's 577 keys), once.
            float* wide = sc.widened.get(size_t(2) * tk * dh);
            if (p != widened)
              for (uint32_t j = 0; j < tk; ++j) {
                halves_to_floats(ks + size_t(j) * ldk, wide + size_t(j) * dh, dh);
                halves_to_floats(vs + size_t(j) * ldv, wide + size_t(tk + j) * dh, dh);
              }
            widened = p;
            kb = wide, vb = wide + size_t(tk) * dh, ldk = ldv = dh;
          } else {
            kb = ks, vb = vs;
          }
          bl.sgemm(Blas::kRowMajor, Blas::kNoTrans, Blas::kTrans, int(mq), int(tk), int(dh), 1.0f,
                   q + size_t(b) * a.q.batch_stride + size_t(i0) * a.q.token_stride + h * dh, int(a.q.token_stride),
                   kb, int(ldk), 0.0f, scores, int(tk));
          for (int64_t i = 0; i < mq; ++i) weights_finish(scores + size_t(i) * tk, b, uint32_t(i0 + i));
          bl.sgemm(Blas::kRowMajor, Blas::kNoTrans, Blas::kNoTrans, int(mq), int(dh), int(tk), 1.0f, scores, int(tk),
                   vb, int(ldv), 0.0f,
                   o + size_t(b) * a.o.batch_stride + size_t(i0) * a.o.token_stride + h * dh, int(a.o.token_stride));
        }
      });
      return;
    }
    // Decode: a few queries against the cache, one (batch, head) per item.
    parallel_for(int64_t(pairs), int64_t(tq) * tk * dh * 2, [&](int64_t p0, int64_t p1) {
      float* const s = scratch().scores.get(tk);
      for (int64_t p = p0; p < p1; ++p) {
        const uint32_t b = uint32_t(p / a.heads), h = uint32_t(p % a.heads);
        const auto* kh = k + size_t(b) * a.k.batch_stride + h * dh;
        const auto* vh = v + size_t(b) * a.v.batch_stride + h * dh;
        for (uint32_t i = 0; i < tq; ++i) {
          const float* qi = q + size_t(b) * a.q.batch_stride + size_t(i) * a.q.token_stride + h * dh;
          float* oi = o + size_t(b) * a.o.batch_stride + size_t(i) * a.o.token_stride + h * dh;
          decode_scores(qi, kh, a.k.token_stride, tk, dh, s);
          weights_finish(s, b, i);
          decode_weighted_sum(s, vh, a.v.token_stride, tk, dh, oi);
        }
      }
    });
  };
  if (a.k.t->dtype == DType::F16) run(u16p(*a.k.t) + a.k.offset, u16p(*a.v.t) + a.v.offset);
  else run(f32(*a.k.t) + a.k.offset, f32(*a.v.t) + a.v.offset);
}

void kv_append(const KvAppendArgs& a) {
  const uint32_t pos = a.pos0 + (a.step ? u32p(*a.step)[0] : 0u);
  const float* src = f32(*a.src.t) + a.src.offset;
  float* cache = f32(*a.cache);
  for (uint32_t b = 0; b < a.batch; ++b)
    for (uint32_t t = 0; t < a.tokens; ++t) {
      if (uint64_t(pos) + t >= a.max_t) break;  // rows past the cache are dropped, as the shader does
      std::memcpy(cache + (size_t(b) * a.max_t + pos + t) * a.dim,
                  src + size_t(b) * a.src.batch_stride + size_t(t) * a.src.token_stride, size_t(a.dim) * 4);
    }
}

// ---- embeddings and element-wise ----------------------------------------------------------------

void embed_tokens(const Tensor& ids, uint32_t ids_offset, uint32_t batch, uint32_t tokens, const Tensor& table,
                  const Tensor* pos_table, uint32_t pos0, const Tensor* step, const Tensor& y) {
  const int64_t v = table.dim(0), d = table.dim(1), rows = int64_t(batch) * tokens;
  const int64_t p = pos_table ? pos_table->dim(0) : 1;
  const uint32_t past = step ? u32p(*step)[0] : 0u;
  const uint32_t* idp = u32p(ids) + ids_offset;
  const float* pp = pos_table ? f32(*pos_table) : nullptr;
  float* yp = f32(y);
  for (int64_t r = 0; r < rows; ++r) {
    // Out-of-range ids and positions are clamped, as shaders/embed.comp does.
    const int64_t id = std::min<int64_t>(idp[r], v - 1);
    const int64_t pos = std::min<int64_t>(int64_t(pos0) + past + r % tokens, p - 1);
    float* yr = yp + r * d;
    if (table.dtype == DType::F16) {
      halves_to_floats(u16p(table) + id * d, yr, d);
    } else {
      const float* tr = f32(table) + id * d;
      for (int64_t j = 0; j < d; ++j) yr[j] = tr[j];
    }
    if (pp)
      for (int64_t j = 0; j < d; ++j) yr[j] += pp[pos * d + j];
  }
}

void class_prepend(const Tensor& patches, const Tensor& cls, const Tensor& pos, const Tensor& y) {
  const int64_t b = patches.dim(0), np = patches.dim(1), d = patches.dim(2), nc = cls.numel() / d;
  const float *pa = f32(patches), *c = f32(cls), *po = f32(pos);
  float* yp = f32(y);
  for (int64_t i = 0; i < b; ++i) {
    float* yb = yp + i * (np + nc) * d;
    for (int64_t j = 0; j < nc * d; ++j) yb[j] = c[j] + po[j];
    for (int64_t t = 0; t < np; ++t)
      for (int64_t j = 0; j < d; ++j) yb[(t + nc) * d + j] = pa[(i * np + t) * d + j] + po[(t + nc) * d + j];
  }
}

void im2col(const Tensor& image, uint32_t patch, const Tensor& cols) {
  const int64_t b = image.dim(0), c = image.dim(1), h = image.dim(2), w = image.dim(3), p = patch;
  const int64_t gh = h / p, gw = w / p, k = c * p * p;
  const float* src = f32(image);
  float* dst = f32(cols);
  parallel_for(b * gh * gw, k, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bi = r / (gh * gw), gy = (r / gw) % gh, gx = r % gw;
      float* row = dst + r * k;
      for (int64_t ci = 0; ci < c; ++ci)  // Conv2d's weight order: [D, C, P, P]
        for (int64_t y = 0; y < p; ++y)
          std::memcpy(row + (ci * p + y) * p, src + ((bi * c + ci) * h + gy * p + y) * w + gx * p, size_t(p) * 4);
    }
  });
}

void eltwise(uint32_t code, const Tensor& a, const Tensor* b, float s, const Tensor& y) {
  const int64_t n = a.numel();
  const float *ap = f32(a), *bp = b ? f32(*b) : nullptr;
  float* yp = f32(y);
  parallel_for(n, code >= 2 ? 20 : 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float x = ap[i];
      yp[i] = code == 0 ? x + bp[i] : code == 1 ? x * s : code == 2 ? gelu_erf(x) : gelu_tanh(x);
    }
  });
}

void gather_rows(const Tensor& src, const Tensor& index, const Tensor& dst) {
  const int64_t src_rows = src.dim(0), width = src.numel() / src_rows, rows = dst.dim(0);
  const float* sp = f32(src);
  float* dp = f32(dst);
  const uint32_t* ip = u32p(index);
  // dst may alias src's rows (beam reordering into the same cache): read through a copy.
  std::vector<float> copy;
  const auto lo = [](const float* p) { return reinterpret_cast<uintptr_t>(p); };
  if (lo(dp) < lo(sp + src.numel()) && lo(sp) < lo(dp + dst.numel())) {
    copy.assign(sp, sp + src.numel());
    sp = copy.data();
  }
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t from = std::min<int64_t>(ip[r], src_rows - 1);
    std::memcpy(dp + r * width, sp + from * width, size_t(width) * 4);
  }
}

// ---- selection ----------------------------------------------------------------------------------

void argmax(const Tensor& x, const Tensor& ids, const Tensor& vals, uint32_t out_offset) {
  const int64_t n = x.dim(-1), rows = x.numel() / n;
  const float* xp = f32(x);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = xp + r * n;
    int64_t best = 0;
    for (int64_t j = 1; j < n; ++j)
      if (row[j] > row[best]) best = j;  // the first among ties
    u32p(ids)[out_offset + r] = uint32_t(best);
    f32(vals)[out_offset + r] = row[best];
  }
}

void topk(const Tensor& x, uint32_t k, const Tensor& ids, const Tensor& vals) {
  const int64_t n = x.dim(-1), rows = x.numel() / n;
  const float* xp = f32(x);
  std::vector<uint32_t> order(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = xp + r * n;
    for (int64_t j = 0; j < n; ++j) order[size_t(j)] = uint32_t(j);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](uint32_t i, uint32_t j) {
      return row[i] > row[j] || (row[i] == row[j] && i < j);
    });
    for (uint32_t i = 0; i < k; ++i) {
      u32p(ids)[r * k + i] = order[i];
      f32(vals)[r * k + i] = row[order[i]];
    }
  }
}

}  // namespace glimpse::host
