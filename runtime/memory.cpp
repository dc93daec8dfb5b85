#include "runtime/memory.hpp"

#include "runtime/device.hpp"
#include "runtime/error.hpp"

#include <algorithm>
#include <optional>

namespace glimpse {

namespace {
VkDeviceSize align_up(VkDeviceSize v, VkDeviceSize a) { return (v + a - 1) / a * a; }
}  // namespace

Allocator::Allocator(Context& ctx, MemoryKind kind, std::string name, VkDeviceSize block_bytes, BlockReuse reuse)
    : ctx_(ctx), kind_(kind), name_(std::move(name)), block_bytes_(block_bytes), reuse_(reuse) {
  const DeviceInfo& info = ctx.info();
  // 64 bytes keeps vec4/u64vec4 loads aligned and covers nonCoherentAtomSize on common devices.
  alignment_ = std::max<VkDeviceSize>({64, info.min_storage_offset_alignment, info.min_texel_offset_alignment,
                                       info.non_coherent_atom_size});
}

Allocator::~Allocator() {
  for (auto& b : blocks_) {
    if (reuse_ == BlockReuse::Recycle) ctx_.spare_give(kind_, std::move(static_cast<MemoryBlock&>(*b)));
    else ctx_.memory_release(b->size);
  }
}

VkDeviceSize Allocator::reserved_bytes() const {
  VkDeviceSize total = 0;
  for (const auto& b : blocks_) total += b->size;
  return total;
}

void Allocator::reset() {
  for (auto& b : blocks_) b->used = 0;
}

Allocator::Block& Allocator::block_for(VkDeviceSize bytes) {
  for (auto& b : blocks_)
    if (align_up(b->used, alignment_) + bytes <= b->size) return *b;

  const VkDeviceSize size = align_up(std::max(bytes, block_bytes_), alignment_);
  auto block = std::make_unique<Block>();
  std::optional<MemoryBlock> spare = reuse_ == BlockReuse::Recycle ? ctx_.spare_take(kind_, size) : std::nullopt;
  static_cast<MemoryBlock&>(*block) = spare ? std::move(*spare) : block_create(size);
  blocks_.push_back(std::move(block));
  return *blocks_.back();
}

MemoryBlock Allocator::block_create(VkDeviceSize size) {
  ctx_.memory_reserve(size, name_.c_str());
  MemoryBlock block;
  block.size = size;
  try {
    VkDevice device = ctx_.device();
    VkBufferCreateInfo buffer_info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    buffer_info.size = size;
    buffer_info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
                        VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    buffer_info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    VkBuffer buffer = VK_NULL_HANDLE;
    VK_CHECK(vkCreateBuffer(device, &buffer_info, nullptr, &buffer));
    block.buffer = BufferHandle(device, buffer);

    VkMemoryRequirements req{};
    vkGetBufferMemoryRequirements(device, buffer, &req);
    VkMemoryPropertyFlags required = 0, preferred = 0;
    if (kind_ == MemoryKind::Host) {
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      preferred = required | VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    } else if (ctx_.caps().host_mapped) {
      required = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                 VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      preferred = required;
    } else {
      required = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
      preferred = required;
    }
    VkMemoryAllocateInfo alloc{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    alloc.allocationSize = req.size;
    alloc.memoryTypeIndex = ctx_.memory_type(req.memoryTypeBits, required, preferred);
    VkDeviceMemory memory = VK_NULL_HANDLE;
    VkResult r = vkAllocateMemory(device, &alloc, nullptr, &memory);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
      fail(ErrorCode::OutOfMemory, "out of device memory: vkAllocateMemory of ", size >> 20, " MiB for ", name_, " returned ",
           vk_result_name(r), " (", ctx_.memory_used() >> 20, " MiB already in use)");
    VK_CHECK(r);
    block.memory = MemoryHandle(device, memory);
    VK_CHECK(vkBindBufferMemory(device, buffer, memory, 0));
    if (required & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
      void* ptr = nullptr;
      VK_CHECK(vkMapMemory(device, memory, 0, VK_WHOLE_SIZE, 0, &ptr));
      block.mapped = static_cast<std::byte*>(ptr);
    }
  } catch (...) {
    ctx_.memory_release(size);
    throw;
  }
  return block;
}

Tensor Allocator::alloc(DType dtype, const Shape& shape, VkDeviceSize extra_bytes) {
  for (int64_t d : shape)
    if (d < 0) fail("cannot allocate a tensor of shape ", shape_str(shape), " for ", name_);
  const VkDeviceSize bytes = VkDeviceSize(shape_numel(shape)) * dtype_size(dtype);
  const VkDeviceSize span = std::max<VkDeviceSize>(bytes + extra_bytes, 4);
  Block& block = block_for(span);
  const VkDeviceSize offset = align_up(block.used, alignment_);
  block.used = offset + span;
  Tensor t;
  t.buffer = block.buffer;
  t.offset = offset;
  t.bytes = bytes;
  t.mapped = block.mapped ? block.mapped + offset : nullptr;
  t.dtype = dtype;
  t.shape = shape;
  return t;
}

}  // namespace glimpse
