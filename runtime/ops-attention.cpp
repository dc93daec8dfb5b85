// attention (any Tq/Tk, causal or not, padding mask, growing KV) and kv_append: the arguments
// checked once, then the backend's recording (runtime/{vulkan,cpu}/attention.cpp).
#include "runtime/backend.hpp"
#include "runtime/ops-common.hpp"

#include <algorithm>

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
  // K and V in fp16: fp16 models' cross-attention K/V where the backend reads them (text/decoder.cpp).
  if (a.k.t && a.v.t && (a.k.t->dtype == DType::F16 || a.v.t->dtype == DType::F16)) {
    if (a.k.t->dtype != a.v.t->dtype)
      fail("attention: K ", a.k.t->describe(), " and V ", a.v.t->describe(), " must have one dtype");
    if (!seq.context().backend().attention_f16_kv())
      fail("attention: fp16 K/V (", a.k.t->describe(), ") need a backend that reads them (the CPU backend)");
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
  ctx.backend().attention(seq, a, label);
}

void kv_append(Sequence& seq, const KvAppendArgs& a) {
  const char* op = "kv_append";
  view_check(op, "src", a.src, a.batch, a.tokens, a.dim);
  if (!a.cache) fail("kv_append: cache is missing");
  detail::expect_dtype(op, "cache", *a.cache, DType::F32);
  detail::expect_numel(op, "cache", *a.cache, int64_t(a.batch) * a.max_t * a.dim);
  const uint64_t total = uint64_t(a.batch) * a.tokens * a.dim;
  if (total == 0) return;

  seq.context().backend().kv_append(seq, a);
}

}  // namespace glimpse
