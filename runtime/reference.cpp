#include "runtime/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace glimpse::ref {

float gelu_erf(float x) { return float(0.5 * x * (1.0 + std::erf(double(x) / std::sqrt(2.0)))); }

float gelu_tanh(float x) {
  const double u = std::sqrt(2.0 / M_PI) * (x + 0.044715 * double(x) * x * x);
  return float(0.5 * x * (1.0 + std::tanh(u)));
}

Floats linear(const Floats& x, int64_t m, int64_t k, const Floats& w, int64_t n, const float* bias, Activation act,
              const float* residual) {
  Floats y(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t c = 0; c < k; ++c) acc += double(x[size_t(i * k + c)]) * w[size_t(j * k + c)];
      float v = float(acc) + (bias ? bias[j] : 0.0f);
      if (act == Activation::GeluErf) v = gelu_erf(v);
      if (act == Activation::GeluTanh) v = gelu_tanh(v);
      if (act == Activation::Relu) v = std::max(v, 0.0f);
      if (residual) v += residual[i * n + j];
      y[size_t(i * n + j)] = v;
    }
  }
  return y;
}

Floats layer_norm(const Floats& x, const float* residual, int64_t rows, int64_t n, const Floats& gamma,
                  const Floats& beta, float eps) {
  Floats y(x.size());
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) {
      v[size_t(i)] = double(x[size_t(r * n + i)]) + (residual ? residual[r * n + i] : 0.0f);
      mean += v[size_t(i)];
    }
    mean /= double(n);
    for (int64_t i = 0; i < n; ++i) var += (v[size_t(i)] - mean) * (v[size_t(i)] - mean);
    const double rstd = 1.0 / std::sqrt(var / double(n) + eps);
    for (int64_t i = 0; i < n; ++i)
      y[size_t(r * n + i)] = float((v[size_t(i)] - mean) * rstd * gamma[size_t(i)] + beta[size_t(i)]);
  }
  return y;
}

Floats softmax(const Floats& x, int64_t rows, int64_t n, float scale) {
  Floats y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = -std::numeric_limits<double>::infinity(), s = 0;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, double(x[size_t(r * n + i)]) * scale);
    for (int64_t i = 0; i < n; ++i) s += std::exp(double(x[size_t(r * n + i)]) * scale - m);
    for (int64_t i = 0; i < n; ++i) y[size_t(r * n + i)] = float(std::exp(double(x[size_t(r * n + i)]) * scale - m) / s);
  }
  return y;
}

Floats attention(const Floats& q, const Floats& k, const Floats& v, int64_t batch, int64_t heads, int64_t dh,
                 int64_t tq, int64_t tk, bool causal, const float* mask, float scale) {
  const int64_t width = heads * dh;
  Floats o(static_cast<size_t>(batch * tq * width));
  std::vector<double> s(static_cast<size_t>(tk));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < tq; ++i) {
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < tk; ++j) {
          double acc = 0;
          for (int64_t d = 0; d < dh; ++d)
            acc += double(q[size_t((b * tq + i) * width + h * dh + d)]) * k[size_t((b * tk + j) * width + h * dh + d)];
          acc = acc * scale + (mask ? mask[b * tk + j] : 0.0f);
          if (causal && j > tk - tq + i) acc = -std::numeric_limits<double>::infinity();
          s[size_t(j)] = acc;
          m = std::max(m, acc);
        }
        double sum = 0;
        for (int64_t j = 0; j < tk; ++j) sum += (s[size_t(j)] = std::exp(s[size_t(j)] - m));
        for (int64_t d = 0; d < dh; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < tk; ++j) acc += s[size_t(j)] * v[size_t((b * tk + j) * width + h * dh + d)];
          o[size_t((b * tq + i) * width + h * dh + d)] = float(acc / sum);
        }
      }
  return o;
}

Floats patch_embed(const Floats& image, int64_t b, int64_t c, int64_t h, int64_t w, int64_t p, const Floats& weight,
                   int64_t d, const float* bias) {
  const int64_t gh = h / p, gw = w / p, np = gh * gw;
  Floats y(static_cast<size_t>(b * np * d));
  for (int64_t n = 0; n < b; ++n)
    for (int64_t py = 0; py < gh; ++py)
      for (int64_t px = 0; px < gw; ++px)
        for (int64_t o = 0; o < d; ++o) {
          double acc = bias ? bias[o] : 0.0;
          for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t ky = 0; ky < p; ++ky)
              for (int64_t kx = 0; kx < p; ++kx)
                acc += double(image[size_t(((n * c + ch) * h + py * p + ky) * w + px * p + kx)]) *
                       weight[size_t(((o * c + ch) * p + ky) * p + kx)];
          y[size_t((n * np + py * gw + px) * d + o)] = float(acc);
        }
  return y;
}

Floats embed(const std::vector<uint32_t>& ids, int64_t tokens, const Floats& table, int64_t d, const Floats* pos_table,
             int64_t pos0, float scale, int64_t pad_id, int64_t past) {
  Floats y(ids.size() * size_t(d));
  for (size_t r = 0; r < ids.size(); ++r) {
    // fairseq's make_positions when pad_id >= 0: a running count of the row's non-pad tokens
    int64_t pos = pos0 + past + int64_t(r) % tokens;
    if (pad_id >= 0) {
      int64_t nonpad = 0;
      for (size_t q = r - r % size_t(tokens); q <= r; ++q) nonpad += int64_t(ids[q]) != pad_id;
      pos = int64_t(ids[r]) == pad_id ? pos0 - 1 : pos0 + past - 1 + nonpad;
    }
    for (int64_t i = 0; i < d; ++i)
      y[r * size_t(d) + size_t(i)] = table[ids[r] * size_t(d) + size_t(i)] * scale +
                                     (pos_table ? (*pos_table)[size_t(pos * d + i)] : 0.0f);
  }
  return y;
}

Floats class_prepend(const Floats& patches, int64_t b, int64_t np, int64_t d, const Floats& cls, const Floats& pos) {
  const int64_t c = int64_t(cls.size()) / d, tokens = np + c;  // c prefix tokens
  Floats y(static_cast<size_t>(b * tokens * d));
  for (int64_t n = 0; n < b; ++n)
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t i = 0; i < d; ++i)
        y[size_t((n * tokens + t) * d + i)] =
            (t < c ? cls[size_t(t * d + i)] : patches[size_t((n * np + t - c) * d + i)]) + pos[size_t(t * d + i)];
  return y;
}

void kv_append(Floats& cache, int64_t b, int64_t max_t, int64_t d, const Floats& src, int64_t t, int64_t pos) {
  for (int64_t n = 0; n < b; ++n)
    for (int64_t s = 0; s < t && pos + s < max_t; ++s)
      std::copy_n(src.begin() + (n * t + s) * d, d, cache.begin() + (n * max_t + pos + s) * d);
}

Floats add_positions(const Floats& x, int64_t t, int64_t d, const Floats& rows, int64_t row0) {
  Floats y = x;
  for (size_t i = 0; i < y.size(); ++i) {
    const int64_t pos = int64_t(i) / d % t, j = int64_t(i) % d;
    y[i] += rows[size_t((row0 + pos) * d + j)];
  }
  return y;
}

Floats gather_rows(const Floats& src, int64_t width, const std::vector<uint32_t>& index) {
  Floats out;
  for (uint32_t i : index) {
    if (i == kZeroRow) out.insert(out.end(), size_t(width), 0.0f);
    else out.insert(out.end(), src.begin() + int64_t(i) * width, src.begin() + (int64_t(i) + 1) * width);
  }
  return out;
}

namespace {
// x at (b, c, iy, ix) as `s` lays it out; 0 outside the input.
double conv_input(const Floats& x, const Conv2dShape& s, int64_t b, int64_t c, int64_t iy, int64_t ix) {
  if (iy < 0 || iy >= s.height || ix < 0 || ix >= s.width) return 0.0;
  const int64_t at = s.channels_last ? ((b * s.height + iy) * s.width + ix) * s.channels + c
                                     : ((b * s.channels + c) * s.height + iy) * s.width + ix;
  return x[size_t(at)];
}
}  // namespace

Floats conv2d(const Floats& x, const Conv2dShape& s, const Floats& weight, int64_t d, const float* bias) {
  const int64_t oh = s.out_h(), ow = s.out_w(), k = s.kernel;
  Floats y(size_t(s.batch * oh * ow * d));
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t o = 0; o < d; ++o) {
          double acc = bias ? bias[o] : 0.0;
          for (int64_t c = 0; c < s.channels; ++c)
            for (int64_t ky = 0; ky < k; ++ky)
              for (int64_t kx = 0; kx < k; ++kx)
                acc += double(weight[size_t(((o * s.channels + c) * k + ky) * k + kx)]) *
                       conv_input(x, s, b, c, oy * s.stride - s.padding + ky, ox * s.stride - s.padding + kx);
          y[size_t(((b * oh + oy) * ow + ox) * d + o)] = float(acc);
        }
  return y;
}

Floats depthwise_conv(const Floats& x, const Conv2dShape& s, const Floats& weight, const Floats& bias, bool residual) {
  const int64_t oh = s.out_h(), ow = s.out_w(), k = s.kernel, c = s.channels;
  Floats y(size_t(s.batch * oh * ow * c));
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t ci = 0; ci < c; ++ci) {
          double acc = bias[size_t(ci)];
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx)
              acc += double(weight[size_t((ci * k + ky) * k + kx)]) *
                     conv_input(x, s, b, ci, oy * s.stride - s.padding + ky, ox * s.stride - s.padding + kx);
          const size_t at = size_t(((b * oh + oy) * ow + ox) * c + ci);
          if (residual) acc += x[at];
          y[at] = float(acc);
        }
  return y;
}

Floats channel_attention(const Floats& qkv, int64_t batch, int64_t tokens, int64_t channels, int64_t groups,
                         float scale) {
  const int64_t cg = channels / groups, ld = 3 * channels;
  Floats y(size_t(batch * tokens * channels));
  std::vector<double> p(size_t(cg * cg));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t g = 0; g < groups; ++g) {
      const float* q = qkv.data() + b * tokens * ld + g * cg;
      for (int64_t i = 0; i < cg; ++i) {
        double m = -std::numeric_limits<double>::infinity(), sum = 0;
        for (int64_t j = 0; j < cg; ++j) {
          double a = 0;
          for (int64_t n = 0; n < tokens; ++n) a += double(q[n * ld + i]) * q[n * ld + channels + j];
          p[size_t(i * cg + j)] = a * scale;
          m = std::max(m, a * scale);
        }
        for (int64_t j = 0; j < cg; ++j) sum += (p[size_t(i * cg + j)] = std::exp(p[size_t(i * cg + j)] - m));
        for (int64_t j = 0; j < cg; ++j) p[size_t(i * cg + j)] /= sum;
      }
      for (int64_t n = 0; n < tokens; ++n)
        for (int64_t i = 0; i < cg; ++i) {
          double a = 0;
          for (int64_t j = 0; j < cg; ++j) a += p[size_t(i * cg + j)] * q[n * ld + 2 * channels + j];
          y[size_t((b * tokens + n) * channels + g * cg + i)] = float(a);
        }
    }
  return y;
}

Floats pool_first(const Floats& x, int64_t batch, int64_t tokens, int64_t d) {
  Floats y = x;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0; j < d; ++j) {
      double acc = 0;
      for (int64_t t = 1; t < tokens; ++t) acc += x[size_t((b * tokens + t) * d + j)];
      y[size_t(b * tokens * d + j)] = float(acc / double(tokens - 1));
    }
  return y;
}

std::vector<uint32_t> argmax(const Floats& x, int64_t rows, int64_t n) {
  std::vector<uint32_t> ids(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r)
    ids[size_t(r)] = uint32_t(std::max_element(x.begin() + r * n, x.begin() + (r + 1) * n) - (x.begin() + r * n));
  return ids;
}

void topk(const Floats& x, int64_t rows, int64_t n, int64_t k, std::vector<uint32_t>& ids, Floats& vals) {
  ids.assign(size_t(rows * k), 0);
  vals.assign(size_t(rows * k), 0);
  std::vector<uint32_t> order(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x.data() + r * n;
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return row[a] > row[b]; });
    for (int64_t i = 0; i < k; ++i) {
      ids[size_t(r * k + i)] = order[size_t(i)];
      vals[size_t(r * k + i)] = row[order[size_t(i)]];
    }
  }
}

}  // namespace glimpse::ref
