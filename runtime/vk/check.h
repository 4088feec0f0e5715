// MOEVK_VK_CHECK: the one check for Vulkan calls. Throws moevk::Error with the VkResult name, the
// expression, file and line.
#pragma once

#include <vulkan/vulkan.h>

#include "loader/error.h"

namespace moevk::vk {
const char* result_name(VkResult r);
}

#define MOEVK_VK_CHECK(expr)                                                                  \
  do {                                                                                        \
    VkResult moevk_vk_r_ = (expr);                                                            \
    if (moevk_vk_r_ != VK_SUCCESS)                                                            \
      throw ::moevk::Error(fmt::format("Vulkan call failed: {} returned {} at {}:{}", #expr,   \
                                       ::moevk::vk::result_name(moevk_vk_r_), __FILE__, __LINE__)); \
  } while (0)
