#include "runtime/error.hpp"

namespace glimpse {

const char* vk_result_name(VkResult result) {
  switch (result) {
#define GLIMPSE_VK_RESULT(name) case name: return #name;
    GLIMPSE_VK_RESULT(VK_SUCCESS)
    GLIMPSE_VK_RESULT(VK_NOT_READY)
    GLIMPSE_VK_RESULT(VK_TIMEOUT)
    GLIMPSE_VK_RESULT(VK_EVENT_SET)
    GLIMPSE_VK_RESULT(VK_EVENT_RESET)
    GLIMPSE_VK_RESULT(VK_INCOMPLETE)
    GLIMPSE_VK_RESULT(VK_ERROR_OUT_OF_HOST_MEMORY)
    GLIMPSE_VK_RESULT(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    GLIMPSE_VK_RESULT(VK_ERROR_INITIALIZATION_FAILED)
    GLIMPSE_VK_RESULT(VK_ERROR_DEVICE_LOST)
    GLIMPSE_VK_RESULT(VK_ERROR_MEMORY_MAP_FAILED)
    GLIMPSE_VK_RESULT(VK_ERROR_LAYER_NOT_PRESENT)
    GLIMPSE_VK_RESULT(VK_ERROR_EXTENSION_NOT_PRESENT)
    GLIMPSE_VK_RESULT(VK_ERROR_FEATURE_NOT_PRESENT)
    GLIMPSE_VK_RESULT(VK_ERROR_INCOMPATIBLE_DRIVER)
    GLIMPSE_VK_RESULT(VK_ERROR_TOO_MANY_OBJECTS)
    GLIMPSE_VK_RESULT(VK_ERROR_FORMAT_NOT_SUPPORTED)
    GLIMPSE_VK_RESULT(VK_ERROR_FRAGMENTED_POOL)
    GLIMPSE_VK_RESULT(VK_ERROR_UNKNOWN)
    GLIMPSE_VK_RESULT(VK_ERROR_OUT_OF_POOL_MEMORY)
    GLIMPSE_VK_RESULT(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    GLIMPSE_VK_RESULT(VK_ERROR_FRAGMENTATION)
    GLIMPSE_VK_RESULT(VK_PIPELINE_COMPILE_REQUIRED)
#undef GLIMPSE_VK_RESULT
    default: return "VK_ERROR_(unnamed)";
  }
}

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::Unspecified: return "unspecified";
    case ErrorCode::InvalidArgument: return "invalid argument";
    case ErrorCode::Io: return "I/O";
    case ErrorCode::UnsupportedModel: return "unsupported model";
    case ErrorCode::Model: return "model";
    case ErrorCode::Image: return "image";
    case ErrorCode::WrongTask: return "wrong task";
    case ErrorCode::OutOfMemory: return "out of memory";
    case ErrorCode::Device: return "device";
    case ErrorCode::DeviceLost: return "device lost";
    case ErrorCode::Cancelled: return "cancelled";
    case ErrorCode::Internal: return "internal";
  }
  return "unknown";
}

void vk_fail(const char* call, VkResult result, const char* file, int line) {
  const bool oom = result == VK_ERROR_OUT_OF_HOST_MEMORY || result == VK_ERROR_OUT_OF_DEVICE_MEMORY;
  const ErrorCode code = oom ? ErrorCode::OutOfMemory : result == VK_ERROR_DEVICE_LOST ? ErrorCode::DeviceLost : ErrorCode::Device;
  fail(code, call, " failed: ", vk_result_name(result), " (", static_cast<int>(result), ") at ", file, ":", line);
}

}  // namespace glimpse
