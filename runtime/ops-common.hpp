// Helpers shared by the op wrappers (runtime/ops-*.cpp only).
#pragma once

#include "runtime/device.hpp"
#include "runtime/error.hpp"
#include "runtime/ops.hpp"
#include "runtime/pipeline.hpp"

#include <algorithm>
#include <array>

namespace glimpse::detail {

// Splits `groups` workgroups over x and y so neither exceeds the device limit; shaders
// rebuild the flat index with flat_group()/flat_index().
inline std::array<uint32_t, 2> grid_2d(const Context& ctx, uint64_t groups) {
  const uint64_t max_x = ctx.info().max_workgroup_count[0];
  const uint64_t gx = std::max<uint64_t>(1, std::min(groups, max_x));
  const uint64_t gy = (groups + gx - 1) / gx;
  if (gy > ctx.info().max_workgroup_count[1]) fail("op too large: ", groups, " workgroups");
  return {static_cast<uint32_t>(gx), static_cast<uint32_t>(gy)};
}

inline uint32_t div_up(uint64_t a, uint64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }

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
