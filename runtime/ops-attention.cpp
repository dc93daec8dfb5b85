// attention (flash-style, any Tq/Tk, causal or not, padding mask, growing KV) and kv_append.
#include "runtime/ops-common.hpp"
#include "runtime/ops-host.hpp"

#include <algorithm>
#include <memory>

#include <cmath>

namespace glimpse {

namespace {

// Checks that a [B, T, H*Dh] view fits its tensor and keeps the vec4 alignment the shader needs.
void view_check(const char* op, const char* name, const AttnView& v, uint32_t batch, uint32_t tokens,
                uint32_t width) {
  if (!v.t) fail(op, ": ", name, " is missing");
  // fp16 is for K and V only; attention() checks.
  if (v.t->dtype != DType::F16) detail::expect_dtype(op, name, *v.t, DType::F32);
  if (v.offset % 4 || v.token_stride % 4 || v.batch_stride % 4)
    fail(op, ": ", name, " offset/strides (", v.offset, ", ", v.token_stride, ", ", v.batch_stride,
         ") must be multiples of 4 elements");
  if (tokens == 0 || batch == 0) return;
  const uint64_t last = uint64_t(v.offset) + uint64_t(batch - 1) * v.batch_stride +
                        uint64_t(tokens - 1) * v.token_stride + width;
  if (last > uint64_t(v.t->numel()))
    fail(op, ": ", name, " view (", batch, " x ", tokens, " x ", width, ", strides ", v.batch_stride, "/",
         v.token_stride, ", offset ", v.offset, ") overruns ", v.t->describe());
}

// shaders/attention_coop.comp's shared memory: K and V blocks (2 stages x 32 keys x DH/8 + 1
// units of 16 bytes each), and per subgroup a half scratch (16 x DH/4 + 2 units of 8 bytes) and a
// float scratch (16 x DH + 8 floats).
uint64_t attention_coop_bytes(uint32_t dh, uint32_t subgroups) {
  return 2 * 2 * 32 * uint64_t(dh / 8 + 1) * 16 + uint64_t(subgroups) * 16 * ((dh / 4 + 2) * 8 + (dh + 8) * 4);
}

}  // namespace

void attention_heads_check(int64_t hidden, int64_t heads, const std::string& where) {
  if (heads <= 0 || hidden % heads) fail(where, ": num_attention_heads ", heads, " does not divide hidden_size ", hidden);
  const int64_t dh = hidden / heads;
  if (dh % 8 || dh > 128)
    fail(where, ": head size ", dh, " (hidden_size ", hidden, " / ", heads, " heads) is not supported: glimpse's attention "
         "needs a multiple of 8 up to 128");
}

void attention(Sequence& seq, const AttentionArgs& a) {
  const char* op = "attention";
  if (a.head_dim == 0 || a.head_dim % 8 || a.head_dim > 128)
    fail("attention: head_dim must be a multiple of 8 up to 128, found ", a.head_dim);
  if (a.q_len == 0 || a.batch == 0 || a.heads == 0) return;
  if (a.kv_len_add_past && !a.step) fail("attention: kv_len_add_past needs a step buffer");
  if (a.causal && !a.kv_len_add_past && a.kv_len < a.q_len)
    fail("attention: causal attention needs kv_len >= q_len, found ", a.kv_len, " < ", a.q_len);
  if (!a.kv_len_add_past && a.kv_len == 0) fail("attention: no keys (kv_len = 0)");
  const uint32_t width = a.heads * a.head_dim;
  view_check(op, "q", a.q, a.batch, a.q_len, width);
  view_check(op, "o", a.o, a.batch, a.q_len, width);
  detail::expect_dtype(op, "q", *a.q.t, DType::F32);
  detail::expect_dtype(op, "o", *a.o.t, DType::F32);
  // K and V in fp16: fp16 models' cross-attention K/V on the host backend (text/decoder.cpp).
  if (a.k.t && a.v.t && (a.k.t->dtype == DType::F16 || a.v.t->dtype == DType::F16)) {
    if (a.k.t->dtype != a.v.t->dtype)
      fail("attention: K ", a.k.t->describe(), " and V ", a.v.t->describe(), " must have one dtype");
    if (!seq.context().caps().host_ops)
      fail("attention: fp16 K/V (", a.k.t->describe(), ") need the host backend");
  }
  // With a growing cache the key count is only known at run time: K and V must hold the cache's capacity.
  view_check(op, "k", a.k, a.batch, a.kv_len_add_past ? 1 : a.kv_len, width);
  view_check(op, "v", a.v, a.batch, a.kv_len_add_past ? 1 : a.kv_len, width);
  if (a.mask) {
    detail::expect_dtype(op, "mask", *a.mask, DType::F32);
    if (uint64_t(a.batch - 1) * a.mask_batch_stride + a.kv_len > uint64_t(a.mask->numel()))
      fail("attention: mask ", a.mask->describe(), " is smaller than batch ", a.batch, " x keys ", a.kv_len);
  }

  Context& ctx = seq.context();
  const std::string label = str(op, a.causal ? " causal " : " ", a.batch, "x", a.heads, "x", a.q_len, "x",
                                a.kv_len_add_past ? "(cache)" : std::to_string(a.kv_len), "x", a.head_dim);
  if (ctx.caps().host_ops) {
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
    seq.host(label, [held] { host::attention(held->a); });
    return;
  }
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
  const uint32_t groups = coop    ? detail::div_up(a.q_len, wg / 2)  // 16 queries per 32 lanes
                          : split ? a.q_len
                          : lpq   ? detail::div_up(a.q_len * lpq, wg)
                                  : detail::div_up(a.q_len, wg * qb);
  seq.dispatch(pipeline, binds, &push, groups, a.heads, a.batch, label);
}

void kv_append(Sequence& seq, const KvAppendArgs& a) {
  const char* op = "kv_append";
  view_check(op, "src", a.src, a.batch, a.tokens, a.dim);
  if (!a.cache) fail("kv_append: cache is missing");
  detail::expect_dtype(op, "cache", *a.cache, DType::F32);
  detail::expect_numel(op, "cache", *a.cache, int64_t(a.batch) * a.max_t * a.dim);
  const uint64_t total = uint64_t(a.batch) * a.tokens * a.dim;
  if (total == 0) return;

  Context& ctx = seq.context();
  if (ctx.caps().host_ops) {
    struct Held {
      KvAppendArgs a;
      Tensor src, cache, step;
    };
    auto held = std::make_shared<Held>();
    held->a = a;
    held->src = *a.src.t, held->cache = *a.cache;
    held->a.src.t = &held->src, held->a.cache = &held->cache;
    if (a.step) held->step = *a.step, held->a.step = &held->step;
    seq.host(str(op, " ", a.batch, "x", a.tokens, "x", a.dim), [held] { host::kv_append(held->a); });
    return;
  }
  const Pipeline& pipeline =
      ctx.pipelines().get({"kv_append", std::vector<BindingKind>(3, BindingKind::Storage), 9 * 4, {64}});
  const uint32_t push[9] = {a.batch, a.tokens, a.dim, a.src.offset, a.src.token_stride, a.src.batch_stride,
                            a.max_t, a.pos0, a.step ? 1u : 0u};
  const Tensor& step = a.step ? *a.step : ctx.zeros();
  const Bind binds[] = {Bind::of(*a.src.t), Bind::of(*a.cache), Bind::of(step)};
  const auto grid = detail::grid_2d(ctx, detail::div_up(total, 64));
  seq.dispatch(pipeline, binds, push, grid[0], grid[1], 1, str(op, " ", a.batch, "x", a.tokens, "x", a.dim));
}

}  // namespace glimpse
