// Convolutions, DaViT's channel attention and the mean-pool token: the arguments checked once,
// then the backend's recording (runtime/{vulkan,cpu}/conv.cpp).
#include "runtime/backend.hpp"
#include "runtime/ops-common.hpp"

namespace glimpse {

using detail::u32;

namespace {

// The input tensor `x` holds what `s` describes, the geometry is in range, and the output grid is
// not empty.
void conv_check(const char* op, const Tensor& x, const Conv2dShape& s) {
  detail::expect_dtype(op, "x", x, DType::F32);
  if (s.batch <= 0 || s.channels <= 0 || s.height <= 0 || s.width <= 0 || s.kernel == 0 || s.stride == 0)
    fail(op, ": empty geometry (B ", s.batch, ", C ", s.channels, ", H ", s.height, ", W ", s.width, ", kernel ",
         s.kernel, ", stride ", s.stride, ")");
  if (s.padding >= s.kernel) fail(op, ": padding ", s.padding, " must be smaller than the kernel (", s.kernel, ")");
  if (s.height + 2 * int64_t(s.padding) < s.kernel || s.width + 2 * int64_t(s.padding) < s.kernel)
    fail(op, ": a ", s.kernel, "x", s.kernel, " kernel does not fit a padded ", s.height, "x", s.width, " input");
  const Shape want = s.channels_last ? Shape{s.batch, s.height * s.width, s.channels}
                                     : Shape{s.batch, s.channels, s.height, s.width};
  if (x.numel() != shape_numel(want))
    fail(op, ": x must hold ", shape_str(want), (s.channels_last ? " (tokens)" : " (image)"), ", found ", x.describe());
  u32(s.batch * s.out_tokens() * s.cols(), "conv elements");
  u32(s.batch * s.height * s.width * s.channels, "conv input elements");
}

}  // namespace

void conv2d(Sequence& seq, const Tensor& x, const Conv2dShape& s, const LinearWeight& w, const Tensor* bias,
            const Tensor& cols, const Tensor& y) {
  const char* op = "conv2d";
  conv_check(op, x, s);
  const int64_t rows = s.batch * s.out_tokens(), k = s.cols();
  if (w.k != k) fail("conv2d: weight takes K = ", w.k, ", the kernel covers C*k*k = ", k);
  detail::expect_dtype(op, "cols", cols, DType::F32);
  detail::expect_numel(op, "cols", cols, rows * k);
  detail::expect_numel(op, "y", y, rows * w.n);
  if (bias) detail::expect_numel(op, "bias", *bias, w.n);
  seq.context().backend().im2col(seq, x, s, cols);
  LinearOptions opt;
  opt.bias = bias;
  linear(seq, cols.view(DType::F32, {rows, k}), w, y, opt);
}

void depthwise_conv(Sequence& seq, const Tensor& x, const Conv2dShape& s, const Tensor& weight, const Tensor& bias,
                    bool residual, const Tensor& y) {
  const char* op = "depthwise_conv";
  if (!s.channels_last) fail("depthwise_conv: the input must be a token grid [B, H*W, C] (channels_last)");
  conv_check(op, x, s);
  detail::expect_dtype(op, "weight", weight, DType::F32);
  detail::expect_dtype(op, "bias", bias, DType::F32);
  detail::expect_dtype(op, "y", y, DType::F32);
  detail::expect_numel(op, "weight", weight, s.channels * int64_t(s.kernel) * s.kernel);
  detail::expect_numel(op, "bias", bias, s.channels);
  detail::expect_numel(op, "y", y, s.batch * s.out_tokens() * s.channels);
  if (residual && (s.out_h() != s.height || s.out_w() != s.width))
    fail("depthwise_conv: a residual needs an output grid as large as the input (", s.height, "x", s.width,
         "), this kernel gives ", s.out_h(), "x", s.out_w());
  if (x.buffer == y.buffer && x.offset < y.offset + y.bytes && y.offset < x.offset + x.bytes)
    fail("depthwise_conv: y must not overlap x");
  seq.context().backend().depthwise_conv(seq, x, s, weight, bias, residual, y);
}

uint32_t channel_attention_splits(uint32_t tokens) { return std::clamp<uint32_t>((tokens + 511) / 512, 1, 32); }

int64_t channel_attention_scratch(uint32_t batch, uint32_t tokens, uint32_t channels, uint32_t groups) {
  if (groups == 0) return 0;
  const int64_t cg = channels / groups;
  return int64_t(batch) * groups * cg * cg * (channel_attention_splits(tokens) + 1);
}

void channel_attention(Sequence& seq, const Tensor& qkv, uint32_t batch, uint32_t tokens, uint32_t channels,
                       uint32_t groups, float scale, const Tensor& scratch, const Tensor& y) {
  const char* op = "channel_attention";
  if (groups == 0 || channels % groups) fail("channel_attention: ", channels, " channels do not split into ", groups, " groups");
  const uint32_t cg = channels / groups;
  if (cg > 64) fail("channel_attention: groups of ", cg, " channels; at most 64 are supported");
  detail::expect_dtype(op, "qkv", qkv, DType::F32);
  detail::expect_dtype(op, "y", y, DType::F32);
  detail::expect_dtype(op, "scratch", scratch, DType::F32);
  detail::expect_numel(op, "qkv", qkv, int64_t(batch) * tokens * 3 * channels);
  detail::expect_numel(op, "y", y, int64_t(batch) * tokens * channels);
  if (scratch.numel() < channel_attention_scratch(batch, tokens, channels, groups))
    fail("channel_attention: scratch ", scratch.describe(), " holds fewer than ",
         channel_attention_scratch(batch, tokens, channels, groups), " floats");
  u32(int64_t(batch) * tokens * 3 * channels, "qkv elements");
  if (batch == 0 || tokens == 0) return;
  seq.context().backend().channel_attention(seq, qkv, batch, tokens, channels, groups, scale, scratch, y);
}

void pool_first(Sequence& seq, const Tensor& x) {
  const char* op = "pool_first";
  detail::expect_dtype(op, "x", x, DType::F32);
  if (x.rank() != 3 || x.dim(1) < 2 || x.dim(2) == 0)
    fail("pool_first: x must be [B, 1 + N, D] with N >= 1, found ", x.describe());
  seq.context().backend().pool_first(seq, x, u32(x.dim(0), "B"), u32(x.dim(1), "T"), u32(x.dim(2), "D"));
}

}  // namespace glimpse
