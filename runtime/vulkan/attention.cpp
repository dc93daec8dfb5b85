// attention and kv_append on the Vulkan backend: flash-style kernels (online softmax, no n x n
// matrix) chosen by query count and device: split keys for decoding, lanes per query or one lane
// per query for many queries, tensor cores for fp16 models.
#include "runtime/vulkan/backend.hpp"

#include <cmath>
#include <vector>

namespace glimpse::vulkan {

namespace {

// shaders/attention_coop.comp's shared memory: K and V blocks (2 stages x 32 keys x DH/8 + 1
// units of 16 bytes each), and per subgroup a half scratch (16 x DH/4 + 2 units of 8 bytes) and a
// float scratch (16 x DH + 8 floats).
uint64_t attention_coop_bytes(uint32_t dh, uint32_t subgroups) {
  return 2 * 2 * 32 * uint64_t(dh / 8 + 1) * 16 + uint64_t(subgroups) * 16 * ((dh / 4 + 2) * 8 + (dh + 8) * 4);
}

}  // namespace

void VulkanBackend::attention(Sequence& seq, const AttentionArgs& a, const std::string& label) const {
  Context& ctx = seq.context();
  const Tensor& step = a.step ? *a.step : ctx.zeros();
  const bool texel = ctx.caps().texel_weights;  // same capability and kill switch as texel weights
  const BindingKind kv = texel ? BindingKind::Texel : BindingKind::Storage;
  const bool gpu = ctx.caps().gpu_tuning;
  // Few queries (decode): split the keys over a workgroup per query. Many queries: a lane owns
  // QB queries and a workgroup walks the keys together. On CPUs (lavapipe) 8 lanes x 4 queries
  // measured fastest (577x577: 26 ms vs 48 ms at 32 x 1); GPUs keep QB = 1 to save registers.
  const bool split = a.q_len <= 8;
  // fp16 models on tensor cores: 16 queries per subgroup, the workgroup's subgroups sharing each
  // K/V block (fewer subgroups where the device has less shared memory than 4 need).
  uint32_t subgroups = ctx.caps().attention_coop_subgroups;
  while (subgroups > 1 && attention_coop_bytes(a.head_dim, subgroups) > ctx.info().max_shared_memory) subgroups /= 2;
  const bool coop = !split && a.fp16 && ctx.caps().attention_coop && a.head_dim >= 32 && a.head_dim <= 64 &&
                    a.head_dim % 16 == 0 && attention_coop_bytes(a.head_dim, subgroups) <= ctx.info().max_shared_memory;
  // Many queries on GPUs with subgroup shuffles: LPQ lanes per query (the largest power of two up
  // to 16 dividing both the head's vec4 count and the smallest subgroup), 128 lanes a workgroup.
  uint32_t lpq = 0;
  if (!split && !coop && ctx.caps().attention_lanes) {
    const uint32_t d4 = a.head_dim / 4, sg = ctx.info().min_subgroup_size;
    for (uint32_t l = 16; l >= 2 && !lpq; l /= 2)
      if (d4 % l == 0 && sg % l == 0) lpq = l;
  }
  uint32_t wg, qb = 1;
  if (coop) wg = 32 * subgroups;
  else if (split) wg = gpu ? 32 : 8;
  else if (lpq) wg = std::max<uint32_t>(128, ctx.info().subgroup_size);
  else if (gpu) wg = 64;
  else wg = 8, qb = 4;
  const std::string shader =
      str(coop ? "attention_coop_" : split ? "attention_split_" : lpq ? "attention_lanes_" : "attention_",
          texel ? "texel" : "ssbo");
  std::vector<uint32_t> spec = {wg, a.head_dim, a.causal ? 1u : 0u, a.mask ? 1u : 0u};
  if (lpq) spec.push_back(lpq);
  else if (!split && !coop) spec.push_back(qb);
  const Pipeline& pipeline = ctx.pipelines().get(
      {shader,
       {BindingKind::Storage, kv, kv, BindingKind::Storage, BindingKind::Storage, BindingKind::Storage},
       17 * 4,
       spec});
  struct {
    uint32_t tq, tk, tk_add_past;
    uint32_t q_off, q_ts, q_bs, k_off, k_ts, k_bs, v_off, v_ts, v_bs, o_off, o_ts, o_bs;
    uint32_t m_bs;
    float scale;
  } push{a.q_len, a.kv_len, a.kv_len_add_past ? 1u : 0u,
         a.q.offset, a.q.token_stride, a.q.batch_stride,
         a.k.offset, a.k.token_stride, a.k.batch_stride,
         a.v.offset, a.v.token_stride, a.v.batch_stride,
         a.o.offset, a.o.token_stride, a.o.batch_stride,
         a.mask_batch_stride,
         a.scale != 0 ? a.scale : 1.0f / std::sqrt(float(a.head_dim))};
  const Bind k = texel ? Bind::texel(seq.texel_view(*a.k.t, VK_FORMAT_R32G32B32A32_SFLOAT)) : Bind::of(*a.k.t);
  const Bind v = texel ? Bind::texel(seq.texel_view(*a.v.t, VK_FORMAT_R32G32B32A32_SFLOAT)) : Bind::of(*a.v.t);
  const Bind binds[] = {Bind::of(*a.q.t), k, v, Bind::of(a.mask ? *a.mask : step),
                        Bind::of(*a.o.t), Bind::of(step)};
  const uint32_t groups = coop    ? div_up(a.q_len, wg / 2)  // 16 queries per 32 lanes
                          : split ? a.q_len
                          : lpq   ? div_up(a.q_len * lpq, wg)
                                  : div_up(a.q_len, wg * qb);
  seq.dispatch(pipeline, binds, &push, groups, a.heads, a.batch, label);
}

void VulkanBackend::kv_append(Sequence& seq, const KvAppendArgs& a) const {
  Context& ctx = seq.context();
  const uint64_t total = uint64_t(a.batch) * a.tokens * a.dim;
  const Pipeline& pipeline =
      ctx.pipelines().get({"kv_append", std::vector<BindingKind>(3, BindingKind::Storage), 9 * 4, {64}});
  const uint32_t push[9] = {a.batch, a.tokens, a.dim, a.src.offset, a.src.token_stride, a.src.batch_stride,
                            a.max_t, a.pos0, a.step ? 1u : 0u};
  const Tensor& step = a.step ? *a.step : ctx.zeros();
  const Bind binds[] = {Bind::of(*a.src.t), Bind::of(*a.cache), Bind::of(step)};
  const auto grid = grid_2d(ctx, div_up(total, 64));
  seq.dispatch(pipeline, binds, push, grid[0], grid[1], 1, str("kv_append ", a.batch, "x", a.tokens, "x", a.dim));
}

}  // namespace glimpse::vulkan
