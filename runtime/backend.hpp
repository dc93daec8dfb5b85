// The backends behind the ops. An op function of runtime/ops.hpp checks its arguments once (its
// front end, runtime/ops-<family>.cpp), then records the op for the context's backend:
//   - runtime/vulkan/<family>.cpp: the compute shaders (kernel choice, bindings, push constants);
//   - runtime/cpu/<family>.cpp: the same op as CPU code over the tensors' mapped memory (SIMD loops,
//     OpenBLAS for the GEMMs, glimpse's thread pool), recorded as a CPU step of the sequence.
// An op's CPU reference, which the tests hold both to, is in runtime/reference.cpp under the same
// name. Model code never asks which backend runs; it asks what the backend prefers (below).
#pragma once

#include "runtime/ops.hpp"

#include <string>

namespace glimpse {

// The element-wise ops (shaders/eltwise.comp's codes).
enum class Eltwise : uint32_t { Add = 0, Scale = 1, GeluErf = 2, GeluTanh = 3 };

// Every op a backend records, declared once (pure virtual in Backend, `override` in each backend).
#define GLIMPSE_BACKEND_OPS(PREFIX, SUFFIX)                                                                      \
  PREFIX void linear(Sequence& seq, const Tensor& x, int64_t m, const LinearWeight& w, const Tensor& y,           \
                     const LinearOptions& opt) const SUFFIX;                                                      \
  PREFIX void layer_norm(Sequence& seq, const Tensor& x, const Tensor* residual, const Tensor& gamma,             \
                         const Tensor& beta, float eps, const Tensor& y, int64_t rows, int64_t n) const SUFFIX;   \
  PREFIX void softmax(Sequence& seq, const Tensor& x, const Tensor& y, float scale, int64_t rows, int64_t n)      \
      const SUFFIX;                                                                                               \
  PREFIX void attention(Sequence& seq, const AttentionArgs& a, const std::string& label) const SUFFIX;            \
  PREFIX void kv_append(Sequence& seq, const KvAppendArgs& a) const SUFFIX;                                       \
  PREFIX void embed_tokens(Sequence& seq, const Tensor& ids, uint32_t ids_offset, uint32_t batch, uint32_t tokens, \
                           const Tensor& table, const Tensor* pos_table, uint32_t pos0, const Tensor* step,      \
                           const Tensor& y, const EmbedOptions& opt) const SUFFIX;                                \
  PREFIX void class_prepend(Sequence& seq, const Tensor& patches, const Tensor& cls, const Tensor& pos,           \
                            const Tensor& y) const SUFFIX;                                                        \
  PREFIX void add_positions(Sequence& seq, const Tensor& x, const Tensor& rows, uint32_t row0, const Tensor& y)   \
      const SUFFIX;                                                                                               \
  PREFIX void im2col(Sequence& seq, const Tensor& x, const Conv2dShape& s, const Tensor& cols) const SUFFIX;     \
  PREFIX void depthwise_conv(Sequence& seq, const Tensor& x, const Conv2dShape& s, const Tensor& weight,          \
                             const Tensor& bias, bool residual, const Tensor& y) const SUFFIX;                    \
  PREFIX void channel_attention(Sequence& seq, const Tensor& qkv, uint32_t batch, uint32_t tokens,                \
                                uint32_t channels, uint32_t groups, float scale, const Tensor& scratch,           \
                                const Tensor& y) const SUFFIX;                                                    \
  PREFIX void pool_first(Sequence& seq, const Tensor& x, uint32_t batch, uint32_t tokens, uint32_t width)         \
      const SUFFIX;                                                                                               \
  PREFIX void eltwise(Sequence& seq, Eltwise op, const Tensor& a, const Tensor* b, float s, const Tensor& y,      \
                      const std::string& label) const SUFFIX;                                                     \
  PREFIX void gather_rows(Sequence& seq, const Tensor& src, const Tensor& index, const Tensor& dst, int64_t rows, \
                          int64_t width) const SUFFIX;                                                            \
  PREFIX void argmax(Sequence& seq, const Tensor& x, const Tensor& ids, const Tensor& vals, uint32_t out_offset,  \
                     uint32_t rows, uint32_t n) const SUFFIX;                                                     \
  PREFIX void topk(Sequence& seq, const Tensor& x, uint32_t k, const Tensor& ids, const Tensor& vals,            \
                   uint32_t rows, uint32_t n) const SUFFIX;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;  // "vulkan", "cpu"

  // What model code may ask. attention() reads fp16 K and V, and linear() writes an fp16 y: fp16
  // models keep their cross-attention K/V in fp16, half the bytes every decode step reads.
  virtual bool attention_f16_kv() const = 0;
  // A pass recorded once and replayed pays off (a Vulkan command buffer: recording and allocating
  // cost milliseconds on a GPU); otherwise a pass is recorded per call and its memory handed back.
  virtual bool replay_recorded_passes() const = 0;

  // Each op's recording, after its front end checked the arguments (shapes, dtypes, sizes); the
  // arguments are as runtime/ops.hpp documents them, plus what the front end derived (rows, n, m,
  // a label for profiles). im2col: x as Conv2dShape says -> cols [B * out_tokens, C * k * k], the rows
  // of conv2d's GEMM (zeros over the padding).
  GLIMPSE_BACKEND_OPS(virtual, = 0)
};

// channel_attention's token slices: a backend may sum the scores of each slice apart (partial
// sums [splits] per group) before the softmax; channel_attention_scratch() holds them and the
// probabilities.
uint32_t channel_attention_splits(uint32_t tokens);

// The two backends; Context::backend() is the one its capabilities chose (Caps::cpu_backend).
const Backend& vulkan_backend();
const Backend& cpu_backend();
const Backend& backend_for(const Caps& caps);

}  // namespace glimpse
