// Device memory: a few large allocations, each one VkBuffer, sub-allocated with the device's
// alignments. Weights live in one Allocator (uploaded once); activations in another that is
// planned per forward pass and reset, never freed piecemeal.
#pragma once

#include "runtime/tensor.hpp"
#include "runtime/vk-handle.hpp"

#include <memory>
#include <string>
#include <vector>

namespace glimpse {

class Context;

enum class MemoryKind {
  Device,  // fastest for the device; host-visible too on CPU/UMA devices, so uploads are memcpy
  Host,    // host-visible and coherent: staging, per-step scalars read by recorded sequences
};

class Allocator {
 public:
  Allocator(Context& ctx, MemoryKind kind, std::string name, VkDeviceSize block_bytes = VkDeviceSize(64) << 20);
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // A tensor of `shape`, followed by `extra_bytes` the tensor does not own (tests put sentinels there).
  Tensor alloc(DType dtype, const Shape& shape, VkDeviceSize extra_bytes = 0);
  // Forgets every sub-allocation but keeps the blocks, for an arena reused per pass.
  void reset();
  VkDeviceSize reserved_bytes() const;
  Context& context() const { return ctx_; }

 private:
  struct Block {
    BufferHandle buffer;
    MemoryHandle memory;
    VkDeviceSize size = 0;
    VkDeviceSize used = 0;
    std::byte* mapped = nullptr;
  };
  Block& block_for(VkDeviceSize bytes);

  Context& ctx_;
  MemoryKind kind_;
  std::string name_;
  VkDeviceSize block_bytes_;
  VkDeviceSize alignment_;
  std::vector<std::unique_ptr<Block>> blocks_;
};

}  // namespace glimpse
