// The tensor type: a typed, shaped view of a range of one device buffer.
#pragma once

#include <vulkan/vulkan.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace glimpse {

class Context;

enum class DType : uint8_t { F32, F16, U32 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);
int64_t shape_numel(const Shape& shape);

struct Tensor {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset = 0;      // bytes into `buffer`
  VkDeviceSize bytes = 0;       // size of the range the tensor owns
  std::byte* mapped = nullptr;  // host address of the range when its memory is host-visible
  DType dtype = DType::F32;
  Shape shape;

  int64_t numel() const { return shape_numel(shape); }
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  int rank() const { return static_cast<int>(shape.size()); }
  std::string describe() const;  // "f32 [2, 577, 768]"
  // The same memory seen with another dtype/shape; throws when it does not fit.
  Tensor view(DType new_dtype, Shape new_shape) const;
};

// Host <-> device copies. Host-visible memory is written directly; otherwise through staging.
void tensor_upload(Context& ctx, const Tensor& dst, const void* src, size_t bytes, size_t dst_offset = 0);
void tensor_download(Context& ctx, const Tensor& src, void* dst, size_t bytes, size_t src_offset = 0);

}  // namespace glimpse
