// Convolutions (im2col for conv2d's GEMM, depthwise), DaViT's channel attention and the mean-pool
// token on the CPU.
#include "runtime/cpu/backend.hpp"
#include "runtime/cpu/kernels.hpp"
#include "runtime/cpu/pool.hpp"
#include "runtime/sequence.hpp"

#include <vector>

namespace glimpse::cpu {

namespace {

void im2col_run(const Tensor& x, const Conv2dShape& s, const Tensor& cols) {
  const int64_t c = s.channels, h = s.height, w = s.width, k = s.kernel, st = s.stride, pad = s.padding;
  const int64_t oh = s.out_h(), ow = s.out_w(), kk = k * k, ncols = s.cols();
  const float* src = f32(x);
  float* dst = f32(cols);
  parallel_for(s.batch * oh * ow, ncols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bi = r / (oh * ow), oy = (r / ow) % oh, ox = r % ow;
      float* row = dst + r * ncols;  // columns in the conv weight's order: (channel, ky, kx)
      for (int64_t ky = 0; ky < k; ++ky) {
        const int64_t iy = oy * st - pad + ky;
        for (int64_t kx = 0; kx < k; ++kx) {
          const int64_t ix = ox * st - pad + kx;
          const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
          float* col = row + ky * k + kx;
          if (!inside) {
            for (int64_t ci = 0; ci < c; ++ci) col[ci * kk] = 0.0f;
          } else if (s.channels_last) {
            const float* px = src + ((bi * h + iy) * w + ix) * c;
            for (int64_t ci = 0; ci < c; ++ci) col[ci * kk] = px[ci];
          } else {
            const float* px = src + (bi * c * h + iy) * w + ix;
            for (int64_t ci = 0; ci < c; ++ci) col[ci * kk] = px[ci * h * w];
          }
        }
      }
    }
  });
}

void depthwise_conv_run(const Tensor& x, const Conv2dShape& s, const Tensor& weight, const Tensor& bias,
                        bool residual, const Tensor& y) {
  const int64_t c = s.channels, h = s.height, w = s.width, k = s.kernel, st = s.stride, pad = s.padding;
  const int64_t oh = s.out_h(), ow = s.out_w(), kk = k * k;
  // The weight [C, k*k] turned to [k*k, C], so each tap is one pass over contiguous channels.
  std::vector<float> taps(size_t(kk * c));
  const float *wp = f32(weight), *bp = f32(bias), *xp = f32(x);
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t t = 0; t < kk; ++t) taps[size_t(t * c + ci)] = wp[ci * kk + t];
  float* yp = f32(y);
  parallel_for(s.batch * oh * ow, kk * c, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bi = r / (oh * ow), oy = (r / ow) % oh, ox = r % ow;
      float* out = yp + r * c;
      for (int64_t ci = 0; ci < c; ++ci) out[ci] = bp[ci];
      for (int64_t ky = 0; ky < k; ++ky) {
        const int64_t iy = oy * st - pad + ky;
        if (iy < 0 || iy >= h) continue;
        for (int64_t kx = 0; kx < k; ++kx) {
          const int64_t ix = ox * st - pad + kx;
          if (ix < 0 || ix >= w) continue;
          const float* px = xp + ((bi * h + iy) * w + ix) * c;
          const float* tp = taps.data() + (ky * k + kx) * c;
          for (int64_t ci = 0; ci < c; ++ci) out[ci] += tp[ci] * px[ci];
        }
      }
      if (residual) {
        const float* px = xp + r * c;
        for (int64_t ci = 0; ci < c; ++ci) out[ci] += px[ci];
      }
    }
  });
}

void channel_attention_run(const Tensor& qkv, uint32_t batch, uint32_t tokens, uint32_t channels, uint32_t groups,
                           float scale, const Tensor& scratch, const Tensor& y) {
  const int64_t cg = channels / groups, ld = 3 * int64_t(channels);
  const float* base = f32(qkv);
  float* sp = f32(scratch);
  float* yp = f32(y);
  const Blas& bl = blas();
  // One (batch, group) per item, each through one core: its Cg x Cg scores over all tokens, their
  // softmax rows, and the weighted sum back over the tokens.
  parallel_for(int64_t(batch) * groups, int64_t(tokens) * cg * cg * 2, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p / groups, g = p % groups;
      const float* q = base + b * tokens * ld + g * cg;
      float* scores = sp + p * cg * cg;
      bl.sgemm(Blas::kRowMajor, Blas::kTrans, Blas::kNoTrans, int(cg), int(cg), int(tokens), scale, q, int(ld),
               q + channels, int(ld), 0.0f, scores, int(cg));
      for (int64_t i = 0; i < cg; ++i) softmax_row(scores + i * cg, cg, 1.0f);
      bl.sgemm(Blas::kRowMajor, Blas::kNoTrans, Blas::kTrans, int(tokens), int(cg), int(cg), 1.0f,
               q + 2 * channels, int(ld), scores, int(cg), 0.0f, yp + b * tokens * channels + g * cg, int(channels));
    }
  });
}

void pool_first_run(const Tensor& x, uint32_t batch, uint32_t tokens, uint32_t width) {
  float* xp = f32(x);
  const int64_t n = int64_t(tokens) - 1;
  parallel_for(int64_t(batch), n * width, [&](int64_t b0, int64_t b1) {
    std::vector<double> acc(width);
    for (int64_t b = b0; b < b1; ++b) {
      float* xb = xp + b * tokens * width;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t t = 1; t <= n; ++t)
        for (uint32_t d = 0; d < width; ++d) acc[d] += xb[t * width + d];
      for (uint32_t d = 0; d < width; ++d) xb[d] = float(acc[d] / double(n));
    }
  });
}

}  // namespace

void CpuBackend::im2col(Sequence& seq, const Tensor& x, const Conv2dShape& s, const Tensor& cols) const {
  seq.cpu_step(str("im2col ", s.batch * s.out_tokens(), "x", s.cols()), [x, s, cols] { im2col_run(x, s, cols); });
}

void CpuBackend::depthwise_conv(Sequence& seq, const Tensor& x, const Conv2dShape& s, const Tensor& weight,
                                const Tensor& bias, bool residual, const Tensor& y) const {
  seq.cpu_step(str("depthwise_conv ", s.batch * s.out_tokens(), "x", s.channels, " k", s.kernel),
               [x, s, weight, bias, residual, y] { depthwise_conv_run(x, s, weight, bias, residual, y); });
}

void CpuBackend::channel_attention(Sequence& seq, const Tensor& qkv, uint32_t batch, uint32_t tokens,
                                   uint32_t channels, uint32_t groups, float scale, const Tensor& scratch,
                                   const Tensor& y) const {
  seq.cpu_step(str("channel_attention ", batch, "x", tokens, "x", channels, " g", groups),
               [qkv, batch, tokens, channels, groups, scale, scratch, y] {
                 channel_attention_run(qkv, batch, tokens, channels, groups, scale, scratch, y);
               });
}

void CpuBackend::pool_first(Sequence& seq, const Tensor& x, uint32_t batch, uint32_t tokens, uint32_t width) const {
  seq.cpu_step(str("pool_first ", batch, "x", tokens, "x", width),
               [x, batch, tokens, width] { pool_first_run(x, batch, tokens, width); });
}

}  // namespace glimpse::cpu
