// Errors: glimpse::Error carries a message that names what was expected and what was found.
// Vulkan calls go through VK_CHECK, which names the call, the VkResult, file and line.
#pragma once

#include <vulkan/vulkan.h>

#include <sstream>
#include <stdexcept>
#include <string>

namespace glimpse {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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
      ::glimpse::fail("internal error: ", #cond, " (", __FILE__, ":", __LINE__, ")"); \
  } while (0)
