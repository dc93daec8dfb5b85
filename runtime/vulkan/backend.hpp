// The Vulkan backend: each op as a compute shader from shaders/, the kernel variant chosen from
// the device's capabilities (Caps), shapes and strides in push constants.
#pragma once

#include "runtime/backend.hpp"
#include "runtime/device.hpp"
#include "runtime/error.hpp"
#include "runtime/ops-common.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/sequence.hpp"

#include <algorithm>
#include <array>
#include <span>
#include <string>

namespace glimpse::vulkan {

class VulkanBackend final : public Backend {
 public:
  const char* name() const override { return "vulkan"; }
  bool attention_f16_kv() const override { return false; }  // the shaders read fp32 K/V
  bool replay_recorded_passes() const override { return true; }

  // One file per op family: runtime/vulkan/linear.cpp, norm.cpp (layer_norm, softmax),
  // attention.cpp (attention, kv_append), misc.cpp (the rest).
  GLIMPSE_BACKEND_OPS(, override)
};

inline uint32_t div_up(uint64_t a, uint64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }

// Splits `groups` workgroups over x and y so neither exceeds the device limit; shaders
// rebuild the flat index with flat_group()/flat_index().
inline std::array<uint32_t, 2> grid_2d(const Context& ctx, uint64_t groups) {
  const uint64_t max_x = ctx.info().max_workgroup_count[0];
  const uint64_t gx = std::max<uint64_t>(1, std::min(groups, max_x));
  const uint64_t gy = (groups + gx - 1) / gx;
  if (gy > ctx.info().max_workgroup_count[1]) fail("op too large: ", groups, " workgroups");
  return {static_cast<uint32_t>(gx), static_cast<uint32_t>(gy)};
}

// One lane per element over a 2D grid of 64-lane workgroups.
inline void dispatch_elements(Sequence& seq, const Pipeline& pipeline, std::span<const Bind> binds, const void* push,
                              uint64_t elements, std::string label) {
  const auto grid = grid_2d(seq.context(), div_up(elements, 64));
  seq.dispatch(pipeline, binds, push, grid[0], grid[1], 1, std::move(label));
}

using detail::u32;  // a shape or offset as a push constant

}  // namespace glimpse::vulkan
