// A compute pipeline built from an embedded SPIR-V variant (shaders/registry.h). Its layout has no
// descriptor sets: every buffer reaches the shader as a 64-bit device address in the push constants.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <vulkan/vulkan.h>

namespace moevk::vk {

class Context;

class Pipeline {
 public:
  // spec: specialization constants with constant_id 0, 1, 2, ... (uint32 each).
  Pipeline(Context& ctx, const std::string& variant, uint32_t push_size,
           const std::vector<uint32_t>& spec);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  VkPipeline handle() const { return pipeline_; }
  VkPipelineLayout layout() const { return layout_; }
  uint32_t push_size() const { return push_size_; }
  const std::string& name() const { return name_; }

 private:
  Context& ctx_;
  std::string name_;
  uint32_t push_size_;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
};

}  // namespace moevk::vk
