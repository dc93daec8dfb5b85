// Convolutions (im2col for conv2d's GEMM, depthwise), DaViT's channel attention and the mean-pool
// token on the Vulkan backend.
#include "runtime/vulkan/backend.hpp"

#include <cstring>
#include <vector>

namespace glimpse::vulkan {

namespace {
struct ConvPush {
  uint32_t b, c, h, w, k, s, p, oh, ow, flag;
};
ConvPush conv_push(const Conv2dShape& s, uint32_t flag) {
  return {u32(s.batch, "B"), u32(s.channels, "C"), u32(s.height, "H"), u32(s.width, "W"), s.kernel, s.stride,
          s.padding, u32(s.out_h(), "OH"), u32(s.out_w(), "OW"), flag};
}
}  // namespace

void VulkanBackend::im2col(Sequence& seq, const Tensor& x, const Conv2dShape& s, const Tensor& cols) const {
  const Pipeline& pipeline =
      seq.context().pipelines().get({"im2col", std::vector<BindingKind>(2, BindingKind::Storage), 10 * 4, {64}});
  const ConvPush push = conv_push(s, s.channels_last ? 1u : 0u);
  const Bind binds[] = {Bind::of(x), Bind::of(cols)};
  const uint64_t rows = uint64_t(s.batch * s.out_tokens());
  dispatch_elements(seq, pipeline, binds, &push, rows * uint64_t(s.cols()), str("im2col ", rows, "x", s.cols()));
}

void VulkanBackend::depthwise_conv(Sequence& seq, const Tensor& x, const Conv2dShape& s, const Tensor& weight,
                                   const Tensor& bias, bool residual, const Tensor& y) const {
  const Pipeline& pipeline = seq.context().pipelines().get(
      {"depthwise_conv", std::vector<BindingKind>(4, BindingKind::Storage), 10 * 4, {64}});
  const ConvPush push = conv_push(s, residual ? 1u : 0u);
  const Bind binds[] = {Bind::of(x), Bind::of(weight), Bind::of(bias), Bind::of(y)};
  const uint64_t rows = uint64_t(s.batch * s.out_tokens());
  dispatch_elements(seq, pipeline, binds, &push, rows * uint64_t(s.channels),
                    str("depthwise_conv ", rows, "x", s.channels, " k", s.kernel));
}

void VulkanBackend::channel_attention(Sequence& seq, const Tensor& qkv, uint32_t batch, uint32_t tokens,
                                      uint32_t channels, uint32_t groups, float scale, const Tensor& scratch,
                                      const Tensor& y) const {
  Context& ctx = seq.context();
  const uint32_t cg = channels / groups;
  const uint32_t splits = channel_attention_splits(tokens);
  struct {
    uint32_t b, n, c, g, cg, splits;
    float scale;
    uint32_t probs_at;
  } push{batch, tokens, channels, groups, cg, splits, scale, u32(int64_t(batch) * groups * splits * cg * cg, "probs")};
  const std::string shape = str(batch, "x", tokens, "x", channels, " g", groups);
  {
    const Pipeline& pipeline =
        ctx.pipelines().get({"channel_scores", std::vector<BindingKind>(2, BindingKind::Storage), 6 * 4, {256}});
    const Bind binds[] = {Bind::of(qkv), Bind::of(scratch)};
    const auto grid = grid_2d(ctx, uint64_t(batch) * groups * splits);
    seq.dispatch(pipeline, binds, &push, grid[0], grid[1], 1, "channel_scores " + shape);
  }
  const Bind binds[] = {Bind::of(qkv), Bind::of(scratch), Bind::of(y)};
  const Pipeline& softmax =
      ctx.pipelines().get({"channel_apply", std::vector<BindingKind>(3, BindingKind::Storage), 8 * 4, {64, 1}});
  dispatch_elements(seq, softmax, binds, &push, uint64_t(batch) * groups * cg, "channel_softmax " + shape);
  const Pipeline& apply =
      ctx.pipelines().get({"channel_apply", std::vector<BindingKind>(3, BindingKind::Storage), 8 * 4, {64, 0}});
  dispatch_elements(seq, apply, binds, &push, uint64_t(batch) * tokens * channels, "channel_apply " + shape);
}

void VulkanBackend::pool_first(Sequence& seq, const Tensor& x, uint32_t batch, uint32_t tokens, uint32_t width) const {
  const Pipeline& pipeline =
      seq.context().pipelines().get({"pool_first", std::vector<BindingKind>(1, BindingKind::Storage), 3 * 4, {64}});
  const uint32_t push[3] = {batch, tokens, width};
  const Bind binds[] = {Bind::of(x)};
  dispatch_elements(seq, pipeline, binds, push, uint64_t(batch) * width, str("pool_first ", batch, "x", tokens, "x", width));
}

}  // namespace glimpse::vulkan
