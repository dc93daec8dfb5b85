// What the CPU backend's op files (runtime/cpu/<family>.cpp) share: the tensors' memory as typed
// pointers, OpenBLAS, the run-time choice between the AVX2/FMA/F16C loops and the baseline ones
// (GLIMPSE_CPU_BASELINE=1 forces the baseline: ctest backend-cpu-baseline), float vector math,
// fp16 conversion and the softmax row that attention and softmax use.
#pragma once

#include "runtime/blas.hpp"
#include "runtime/error.hpp"
#include "runtime/half.hpp"
#include "runtime/ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define GLIMPSE_CPU_X86 1
#define GLIMPSE_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define GLIMPSE_TARGET_F16C __attribute__((target("avx2,fma,f16c")))
#define GLIMPSE_X86_SUPPORTS(feature) __builtin_cpu_supports(feature)
#else
#define GLIMPSE_TARGET_AVX2
#define GLIMPSE_TARGET_F16C
#define GLIMPSE_X86_SUPPORTS(feature) false
#endif

namespace glimpse::cpu {

// A tensor's mapped memory as floats, u32 or fp16 values.
inline float* f32(const Tensor& t) {
  if (!t.mapped) fail("cpu backend: tensor ", t.describe(), " is not host-mapped");
  return reinterpret_cast<float*>(t.mapped);
}
inline uint32_t* u32p(const Tensor& t) {
  if (!t.mapped) fail("cpu backend: tensor ", t.describe(), " is not host-mapped");
  return reinterpret_cast<uint32_t*>(t.mapped);
}
inline uint16_t* u16p(const Tensor& t) {
  if (!t.mapped) fail("cpu backend: tensor ", t.describe(), " is not host-mapped");
  return reinterpret_cast<uint16_t*>(t.mapped);
}

// OpenBLAS on one thread: the backend splits its GEMMs over the pool itself (column pieces,
// attention heads), so that each piece's widening, product and epilogue stay on one core and
// OpenBLAS's own threads never spin (sched_yield) beside ours between its calls.
const Blas& blas();

// The CPU backend's sequences run one at a time in the process, as a Vulkan queue runs one
// submission at a time: each already spreads over every core (runtime/cpu/pool.hpp), and two at
// once only compete for them (8 sessions on OpenBLAS's own threads: 10x slower measured).
std::mutex& run_mutex();

// Loops compiled twice, for AVX2 + FMA (F16C for fp16) and for the baseline, chosen once at run time.
bool baseline_forced();
bool has_avx2_fma();
bool has_f16c();

// ---- vector math ----------------------------------------------------------------------------------
// The encoder spends its non-GEMM time in exp (attention softmax: 4M per layer for BLIP-base)
// and erf (GELU: 1.8M per layer). libm's are scalar calls; these are branch-free so the loops
// below vectorise (AVX2 where the CPU has it; GCC if-converts their compares and selects only
// with -fno-trapping-math, which CMakeLists.txt sets for runtime/cpu/), at float accuracy: exp
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


// y[i] = exp(x[i] * scale - shift), returning the sum.
float exp_sum(float* row, int64_t n, float scale, float shift);
// Attention logits: s[j] = s[j] * scale + mask[j] (mask optional) for j < visible, -inf from
// there; returns the row's maximum.
float logits_max(float* s, int64_t n, float scale, const float* mask, int64_t visible);
// row[0..n) = softmax(row * scale + mask) in place over its first `visible` entries (mask
// optional), 0 past them; entries at -inf stay 0, and a row with nothing visible is all 0, as
// the shaders give.
void softmax_row(float* row, int64_t n, float scale, const float* mask = nullptr,
                 int64_t visible = std::numeric_limits<int64_t>::max());
// fp16 <-> fp32 with F16C when the CPU has it (every x86-64 since 2013), else one by one; to fp16
// rounds to nearest even, as float_to_half.
void halves_to_floats(const uint16_t* src, float* dst, int64_t n);
void floats_to_halves(const float* src, uint16_t* dst, int64_t n);

#ifdef GLIMPSE_CPU_X86
GLIMPSE_TARGET_AVX2 inline float hsum(__m256 v) {
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 p = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(p, _mm_shuffle_ps(p, p, 1)));
}
#endif

}  // namespace glimpse::cpu
