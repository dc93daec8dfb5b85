#include "runtime/backend.hpp"

#include "runtime/cpu/backend.hpp"
#include "runtime/device.hpp"
#include "runtime/vulkan/backend.hpp"

namespace glimpse {

const Backend& vulkan_backend() {
  static const vulkan::VulkanBackend b;
  return b;
}

const Backend& cpu_backend() {
  static const cpu::CpuBackend b;
  return b;
}

const Backend& backend_for(const Caps& caps) { return caps.cpu_backend ? cpu_backend() : vulkan_backend(); }

const Backend& Context::backend() const { return backend_for(caps_); }

}  // namespace glimpse
