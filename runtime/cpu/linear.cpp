// linear on the CPU: OpenBLAS GEMMs in tiles over the pool with a fused epilogue (bias,
// activation, residual), and for decoding with fp16 weights an F16C GEMV.
#include "runtime/cpu/backend.hpp"
#include "runtime/cpu/kernels.hpp"
#include "runtime/cpu/pool.hpp"
#include "runtime/sequence.hpp"

#include <optional>

namespace glimpse::cpu {

namespace {

// A linear weight as a recorded step holds it: [n, kp] rows of fp32 or fp16 (LinearWeight's
// copyable part; its texel views are move-only Vulkan handles the CPU never reads).
struct WeightRows {
  Tensor packed;
  int64_t n = 0, k = 0, kp = 0;
  DType dtype = DType::F32;
};

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
    else if (act == Activation::Relu)
      for (int64_t j = 0; j < c; ++j) t[j] = std::max(t[j], 0.0f);
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

// Decode with fp16 weights: x . W^T for r < m <= 8 rows and columns [j0, j1) into
// acc_out[r * (j1 - j0) + j - j0], each weight row read once (half the bytes of fp32: decode
// streams the weights, so this is where fp16 pays on a CPU).
#ifdef GLIMPSE_CPU_X86
GLIMPSE_TARGET_F16C void gemv_f16_avx2(const float* x, int64_t m, const uint16_t* w, int64_t kp,
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


void linear_run(const Tensor& x, int64_t m, const WeightRows& w, const Tensor& y, const Tensor* bias, Activation act,
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

}  // namespace

void CpuBackend::linear(Sequence& seq, const Tensor& x, int64_t m, const LinearWeight& w, const Tensor& y,
                        const LinearOptions& opt) const {
  const WeightRows rows{w.packed, w.n, w.k, w.kp, w.dtype};
  const std::optional<Tensor> bias = opt.bias ? std::optional<Tensor>(*opt.bias) : std::nullopt;
  const std::optional<Tensor> residual = opt.residual ? std::optional<Tensor>(*opt.residual) : std::nullopt;
  seq.cpu_step(str("linear ", m, "x", w.k, "->", w.n), [x, m, rows, y, bias, residual, act = opt.act] {
    linear_run(x, m, rows, y, bias ? &*bias : nullptr, act, residual ? &*residual : nullptr);
  });
}

}  // namespace glimpse::cpu
