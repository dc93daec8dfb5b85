#include "runtime/tensor.hpp"

#include "runtime/device.hpp"
#include "runtime/error.hpp"
#include "runtime/memory.hpp"

#include <algorithm>
#include <cstring>

namespace glimpse {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::U32: return 4;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::U32: return "u32";
  }
  return "?";
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string Tensor::describe() const { return str(dtype_name(dtype), " ", shape_str(shape)); }

Tensor Tensor::view(DType new_dtype, Shape new_shape) const {
  const VkDeviceSize need = VkDeviceSize(shape_numel(new_shape)) * dtype_size(new_dtype);
  if (need > bytes)
    fail("view ", dtype_name(new_dtype), " ", shape_str(new_shape), " needs ", need, " bytes, tensor ", describe(),
         " has ", bytes);
  Tensor t = *this;
  t.dtype = new_dtype;
  t.shape = std::move(new_shape);
  t.bytes = need;
  return t;
}

namespace {
void check_range(const Tensor& t, size_t bytes, size_t offset, const char* what) {
  if (offset + bytes > t.bytes)
    fail(what, " of ", bytes, " bytes at offset ", offset, " overruns tensor ", t.describe(), " (", t.bytes, " bytes)");
}
}  // namespace

void tensor_upload(Context& ctx, const Tensor& dst, const void* src, size_t bytes, size_t dst_offset) {
  check_range(dst, bytes, dst_offset, "upload");
  if (bytes == 0) return;
  if (dst.mapped) {
    std::memcpy(dst.mapped + dst_offset, src, bytes);
    return;
  }
  // Device-local memory: through the context's staging buffer, one chunk at a time.
  std::lock_guard lock(ctx.staging_mutex());
  const Tensor& staging = ctx.staging();
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min<size_t>(bytes - done, staging.bytes);
    std::memcpy(staging.mapped, static_cast<const std::byte*>(src) + done, n);
    ctx.submit_now([&](VkCommandBuffer cmd) {
      VkBufferCopy region{staging.offset, dst.offset + dst_offset + done, n};
      vkCmdCopyBuffer(cmd, staging.buffer, dst.buffer, 1, &region);
    });
    done += n;
  }
}

void tensor_download(Context& ctx, const Tensor& src, void* dst, size_t bytes, size_t src_offset) {
  check_range(src, bytes, src_offset, "download");
  if (bytes == 0) return;
  if (src.mapped) {
    std::memcpy(dst, src.mapped + src_offset, bytes);
    return;
  }
  std::lock_guard lock(ctx.staging_mutex());
  const Tensor& staging = ctx.staging();
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min<size_t>(bytes - done, staging.bytes);
    ctx.submit_now([&](VkCommandBuffer cmd) {
      VkBufferCopy region{src.offset + src_offset + done, staging.offset, n};
      vkCmdCopyBuffer(cmd, src.buffer, staging.buffer, 1, &region);
      VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
      barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
      barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
      vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0, nullptr,
                           0, nullptr);
    });
    std::memcpy(static_cast<std::byte*>(dst) + done, staging.mapped, n);
    done += n;
  }
}

}  // namespace glimpse
