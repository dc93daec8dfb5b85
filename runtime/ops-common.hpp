// Argument checks shared by the ops' front ends (runtime/ops-*.cpp only).
#pragma once

#include "runtime/device.hpp"
#include "runtime/error.hpp"
#include "runtime/ops.hpp"

#include <algorithm>

namespace glimpse::detail {

inline void expect_dtype(const char* op, const char* name, const Tensor& t, DType dtype) {
  if (t.dtype != dtype) fail(op, ": ", name, " must be ", dtype_name(dtype), ", found ", t.describe());
}

inline void expect_numel(const char* op, const char* name, const Tensor& t, int64_t numel) {
  if (t.numel() != numel) fail(op, ": ", name, " must have ", numel, " elements, found ", t.describe());
}

inline uint32_t u32(int64_t v, const char* what) {
  if (v < 0 || v > int64_t(UINT32_MAX)) fail(what, " out of range: ", v);
  return static_cast<uint32_t>(v);
}

}  // namespace glimpse::detail
