// attention and kv_append on the CPU: many-query attention as blocks of queries through OpenBLAS
// GEMMs and softmax rows, decode attention with SIMD dot products and weighted sums over fp32 or
// fp16 K/V.
#include "runtime/cpu/backend.hpp"
#include "runtime/cpu/kernels.hpp"
#include "runtime/cpu/pool.hpp"
#include "runtime/sequence.hpp"

#include <memory>
#include <type_traits>

namespace glimpse::cpu {

namespace {

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
#ifdef GLIMPSE_CPU_X86
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

// Many-query attention's scores per block of queries (see attention()): 256 KB, within a core's
// L2 on most x86 CPUs. BLIP-base's 577 x 577 x 12 heads on 2 cores (bench ops, 4 interleaved
// runs): 3.75-3.89 ms against 3.93-4.12 with a whole head's 1.3 MB at once; 128 KB (53 rows for
// 577 keys) was slower, 4.44-4.52 ms, its GEMMs too thin.
constexpr size_t kScoresBlockBytes = size_t(256) << 10;

void attention_run(const AttentionArgs& a) {
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

void kv_append_run(const KvAppendArgs& a) {
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

}  // namespace

void CpuBackend::attention(Sequence& seq, const AttentionArgs& a, const std::string& label) const {
  // The step keeps its own copies of the tensors the views point at.
  struct Held {
    AttentionArgs a;
    Tensor q, k, v, o, step, mask;
  };
  auto held = std::make_shared<Held>();
  held->a = a;
  held->q = *a.q.t, held->k = *a.k.t, held->v = *a.v.t, held->o = *a.o.t;
  held->a.q.t = &held->q, held->a.k.t = &held->k, held->a.v.t = &held->v, held->a.o.t = &held->o;
  if (a.step) held->step = *a.step, held->a.step = &held->step;
  if (a.mask) held->mask = *a.mask, held->a.mask = &held->mask;
  seq.cpu_step(label, [held] { attention_run(held->a); });
}

void CpuBackend::kv_append(Sequence& seq, const KvAppendArgs& a) const {
  struct Held {
    KvAppendArgs a;
    Tensor src, cache, step;
  };
  auto held = std::make_shared<Held>();
  held->a = a;
  held->src = *a.src.t, held->cache = *a.cache;
  held->a.src.t = &held->src, held->a.cache = &held->cache;
  if (a.step) held->step = *a.step, held->a.step = &held->step;
  seq.cpu_step(str("kv_append ", a.batch, "x", a.tokens, "x", a.dim), [held] { kv_append_run(held->a); });
}

}  // namespace glimpse::cpu
