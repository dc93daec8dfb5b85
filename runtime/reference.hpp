// Plain CPU references of every op: straightforward loops with double accumulation, written for
// clarity, not speed. The op tests hold each shader to them. Layouts as in runtime/ops.hpp.
#pragma once

#include "runtime/ops.hpp"

#include <cstdint>
#include <vector>

namespace glimpse::ref {

using Floats = std::vector<float>;

float gelu_erf(float x);
float gelu_tanh(float x);

// y[m, n] = act(x[m, k] . w[n, k]^T + bias) + residual.
Floats linear(const Floats& x, int64_t m, int64_t k, const Floats& w, int64_t n, const float* bias, Activation act,
              const float* residual);
Floats layer_norm(const Floats& x, const float* residual, int64_t rows, int64_t n, const Floats& gamma,
                  const Floats& beta, float eps);
Floats softmax(const Floats& x, int64_t rows, int64_t n, float scale);
// Dense [B, T, H*Dh] q/k/v; mask [B, Tk] additive or null; returns [B, Tq, H*Dh].
Floats attention(const Floats& q, const Floats& k, const Floats& v, int64_t batch, int64_t heads, int64_t dh,
                 int64_t tq, int64_t tk, bool causal, const float* mask, float scale);
// image [B, C, H, W], w [D, C*P*P] -> [B, Np, D].
Floats patch_embed(const Floats& image, int64_t b, int64_t c, int64_t h, int64_t w, int64_t p, const Floats& weight,
                   int64_t d, const float* bias);
// Positions from pos0 + past; pad_id >= 0: fairseq's pad-aware positions (EmbedOptions: pads take
// row pos0 - 1).
Floats embed(const std::vector<uint32_t>& ids, int64_t tokens, const Floats& table, int64_t d, const Floats* pos_table,
             int64_t pos0, float scale = 1.0f, int64_t pad_id = -1, int64_t past = 0);
// x [B, T, D] + rows[row0 + t] per position.
Floats add_positions(const Floats& x, int64_t t, int64_t d, const Floats& rows, int64_t row0);
Floats class_prepend(const Floats& patches, int64_t b, int64_t np, int64_t d, const Floats& cls, const Floats& pos);
// cache [B, max_t, D] gets src [B, T, D] at rows pos..pos+T-1 (rows past max_t dropped).
void kv_append(Floats& cache, int64_t b, int64_t max_t, int64_t d, const Floats& src, int64_t t, int64_t pos);
Floats gather_rows(const Floats& src, int64_t width, const std::vector<uint32_t>& index);  // kZeroRow: zeros
// x as `s` lays it out, weight [D, C, k, k] -> y [B, out_h * out_w, D].
Floats conv2d(const Floats& x, const Conv2dShape& s, const Floats& weight, int64_t d, const float* bias);
// tokens [B, H*W, C], weight [C, k, k] -> [B, out_h * out_w, C] (+ x when residual).
Floats depthwise_conv(const Floats& x, const Conv2dShape& s, const Floats& weight, const Floats& bias, bool residual);
// qkv [B, N, 3C] -> [B, N, C] (runtime/ops.hpp channel_attention).
Floats channel_attention(const Floats& qkv, int64_t batch, int64_t tokens, int64_t channels, int64_t groups,
                         float scale);
// x [B, T, D] with row 0 of each batch replaced by the mean of rows 1 .. T-1.
Floats pool_first(const Floats& x, int64_t batch, int64_t tokens, int64_t d);
std::vector<uint32_t> argmax(const Floats& x, int64_t rows, int64_t n);
void topk(const Floats& x, int64_t rows, int64_t n, int64_t k, std::vector<uint32_t>& ids, Floats& vals);

}  // namespace glimpse::ref
