// Helpers for op tests: one shared device context, random data, guarded outputs (NaN-filled,
// followed by sentinel bytes that must come back unchanged), and scale-aware error metrics.
#pragma once

#include "runtime/backend.hpp"
#include "runtime/device.hpp"
#include "runtime/memory.hpp"
#include "runtime/ops.hpp"
#include "runtime/reference.hpp"
#include "runtime/sequence.hpp"

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <utility>
#include <string>
#include <vector>

namespace glimpse::test {

using Floats = std::vector<float>;

Context& context();  // created once per process, on the device glimpse would choose

// Sets an environment variable for the lifetime of the object, then restores the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

// A context created while the given GLIMPSE_* switches are set (e.g. {{"GLIMPSE_TUNING", "gpu"}}).
std::unique_ptr<Context> context_with(std::initializer_list<std::pair<const char*, const char*>> env);

Floats random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);
// Values rounded through fp16, so the reference sees exactly what an fp16 weight holds.
Floats round_to_half(const Floats& v);
// What a linear layer with `weights` of that dtype over `m` rows multiplies by, the kernel left to
// Auto: x itself, or x rounded to fp16 where that is the tensor-core GEMM (linear_kernel_auto).
Floats gemm_input(const Context& ctx, DType weights, int64_t m, const Floats& x);

Tensor upload(Allocator& arena, const Floats& data, const Shape& shape);
Tensor upload_f16(Allocator& arena, const Floats& data, const Shape& shape);  // rounded to fp16
Tensor upload_u32(Allocator& arena, const std::vector<uint32_t>& data, const Shape& shape);

// Uploads go through the arena's context. An output tensor filled with NaN and followed by kGuardBytes of sentinel pattern.
constexpr size_t kGuardBytes = 256;
Tensor guarded_output(Allocator& arena, DType dtype, const Shape& shape);
bool guard_intact(const Tensor& t, Context& ctx = context());

Floats download(const Tensor& t, Context& ctx = context());
Floats download_f16(const Tensor& t, Context& ctx = context());  // an fp16 tensor, widened
std::vector<uint32_t> download_u32(const Tensor& t, Context& ctx = context());

// A little-endian float32 .npy as numpy.save writes it (the goldens of tools/*-reference.py).
Floats npy_load(const std::string& path);
double max_abs_diff(const Floats& got, const Floats& want);

// Normalised mean squared error sum((a-b)^2) / sum(b^2) (test-backend-ops' metric).
double nmse(const Floats& got, const Floats& want);
bool all_finite(const Floats& v);

}  // namespace glimpse::test
