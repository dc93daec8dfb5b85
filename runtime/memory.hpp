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

// One device allocation with a VkBuffer over all of it, mapped when host-visible.
struct MemoryBlock {
  BufferHandle buffer;
  MemoryHandle memory;
  VkDeviceSize size = 0;
  std::byte* mapped = nullptr;
};

// What an arena does with its blocks when it goes: free them, or hand them to its Context for
// the next arena (Context::spare_take), which then skips the allocation and, on CPU devices,
// the page faults of first touching fresh memory. For arenas made per call (a caption's
// activations), not for weights.
enum class BlockReuse { Free, Recycle };

class Allocator {
 public:
  static constexpr VkDeviceSize kBlockBytes = VkDeviceSize(64) << 20;
  Allocator(Context& ctx, MemoryKind kind, std::string name, VkDeviceSize block_bytes = kBlockBytes,
            BlockReuse reuse = BlockReuse::Free);
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
  struct Block : MemoryBlock {
    VkDeviceSize used = 0;
  };
  Block& block_for(VkDeviceSize bytes);
  MemoryBlock block_create(VkDeviceSize size);

  Context& ctx_;
  MemoryKind kind_;
  std::string name_;
  VkDeviceSize block_bytes_;
  BlockReuse reuse_;
  VkDeviceSize alignment_;
  std::vector<std::unique_ptr<Block>> blocks_;
};

}  // namespace glimpse
