// Errors: glimpse::Error carries a message that names what was expected and what was found, and a
// code that says whose problem it is (the C API, the CLI and the server map codes, never messages).
// Vulkan calls go through VK_CHECK, which names the call, the VkResult, file and line.
#pragma once

#include <vulkan/vulkan.h>

#include <sstream>
#include <new>
#include <stdexcept>
#include <string>

namespace glimpse {

enum class ErrorCode {
  Unspecified,      // not classified where it was raised: the boundary that catches it decides
                    // (with_error_code: a failure while loading a model is a model error)
  InvalidArgument,  // the caller's mistake: an empty or over-long question, bad generation settings
  Io,               // a file or folder that cannot be read
  UnsupportedModel, // a model folder no family in the table opens
  Model,            // a model folder that is broken: config, tokenizer or weights
  Image,            // an image that cannot be decoded, or is too large
  WrongTask,        // e.g. a question for a captioning model
  OutOfMemory,
  Device,           // no usable Vulkan device, or a device failure
  DeviceLost,       // VK_ERROR_DEVICE_LOST: the device and all it held are gone; recreate them
  Cancelled,        // a caller's abort or progress callback asked to stop
  Internal,         // a broken invariant: glimpse's bug
};
const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorCode code = ErrorCode::Unspecified)
      : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

const char* vk_result_name(VkResult result);

[[noreturn]] void vk_fail(const char* call, VkResult result, const char* file, int line);

// Concatenates its arguments with operator<< into a string.
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(str(args...));
}

// The same with a code: fail(ErrorCode::InvalidArgument, "question is empty").
template <typename... Args>
[[noreturn]] void fail(ErrorCode code, const Args&... args) {
  throw Error(str(args...), code);
}

// Runs `body`; an Error it throws with no code of its own leaves with `code` (the stage's: loading a
// model folder, decoding an image), and running out of host memory becomes ErrorCode::OutOfMemory.
template <typename Body>
auto with_error_code(ErrorCode code, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Unspecified) throw;
    throw Error(e.what(), code);
  } catch (const std::bad_alloc&) {
    throw Error("out of memory", ErrorCode::OutOfMemory);
  }
}

}  // namespace glimpse

#define VK_CHECK(call)                                                         \
  do {                                                                         \
    VkResult vk_check_result_ = (call);                                        \
    if (vk_check_result_ != VK_SUCCESS)                                        \
      ::glimpse::vk_fail(#call, vk_check_result_, __FILE__, __LINE__);         \
  } while (0)

// Broken internal invariants (not user input): throw with the expression and location.
#define GLIMPSE_ASSERT(cond)                                                   \
  do {                                                                         \
    if (!(cond))                                                               \
      ::glimpse::fail(::glimpse::ErrorCode::Internal, "internal error: ", #cond, " (", __FILE__, ":", __LINE__, ")"); \
  } while (0)
