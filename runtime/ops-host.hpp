// The host backend's kernels (Caps::host_ops): each op of runtime/ops.hpp as CPU code over the
// mapped memory of its tensors, with OpenBLAS for the GEMMs and the rest as fused loops split
// over the cores. The op functions validate their arguments, then record one of these as a host
// step; run-time values (decode position, token ids) are read when the step runs.
#pragma once

#include "runtime/ops.hpp"

#include <mutex>

namespace glimpse::host {

// The host backend's steps run one sequence at a time in the process, as a Vulkan queue runs one
// submission at a time: each already spreads over every core (runtime/host-pool.hpp), and two at
// once only compete for them (8 sessions on OpenBLAS's own threads: 10x slower measured).
std::mutex& run_mutex();

// A linear weight as a recorded host step holds it: [n, kp] rows of fp32 or fp16. It is
// LinearWeight's copyable part: a step keeps a copy, since it may run after the caller's
// LinearWeight is gone, and LinearWeight's texel views are move-only handles.
struct HostWeight {
  Tensor packed;
  int64_t n = 0, k = 0, kp = 0;
  DType dtype = DType::F32;
};
void linear(const Tensor& x, int64_t m, const HostWeight& w, const Tensor& y, const Tensor* bias, Activation act,
            const Tensor* residual);
void layer_norm(const Tensor& x, const Tensor* residual, const Tensor& gamma, const Tensor& beta, float eps, const Tensor& y);
void softmax(const Tensor& x, const Tensor& y, float scale);
void attention(const AttentionArgs& a);
void kv_append(const KvAppendArgs& a);
void embed_tokens(const Tensor& ids, uint32_t ids_offset, uint32_t batch, uint32_t tokens, const Tensor& table,
                  const Tensor* pos_table, uint32_t pos0, const Tensor* step, const Tensor& y);
void class_prepend(const Tensor& patches, const Tensor& cls, const Tensor& pos, const Tensor& y);
void im2col(const Tensor& image, uint32_t patch, const Tensor& cols);
// code: 0 add (a + b), 1 scale (a * s), 2 gelu erf, 3 gelu tanh (as shaders/eltwise.comp).
void eltwise(uint32_t code, const Tensor& a, const Tensor* b, float s, const Tensor& y);
void gather_rows(const Tensor& src, const Tensor& index, const Tensor& dst);
void argmax(const Tensor& x, const Tensor& ids, const Tensor& vals, uint32_t out_offset);
void topk(const Tensor& x, uint32_t k, const Tensor& ids, const Tensor& vals);

}  // namespace glimpse::host
