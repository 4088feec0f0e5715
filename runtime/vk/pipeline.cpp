#include "runtime/vk/pipeline.h"

#include "runtime/vk/check.h"
#include "runtime/vk/context.h"
#include "shaders/registry.h"

namespace moevk::vk {

Pipeline::Pipeline(Context& ctx, const std::string& variant, uint32_t push_size,
                   const std::vector<uint32_t>& spec)
    : ctx_(ctx), name_(variant), push_size_(push_size) {
  const shaders::Spirv* spv = shaders::find(variant);
  if (!spv) fail("no shader variant '{}' was built (see shaders/CMakeLists.txt)", variant);
  if (push_size > ctx.features().max_push_constants)
    fail("shader {} needs {} bytes of push constants; the device allows {}", variant, push_size,
         ctx.features().max_push_constants);
  VkShaderModuleCreateInfo mci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  mci.codeSize = spv->words.size() * 4;
  mci.pCode = spv->words.data();
  VkShaderModule module = VK_NULL_HANDLE;
  MOEVK_VK_CHECK(vkCreateShaderModule(ctx.device(), &mci, nullptr, &module));

  VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size};
  VkPipelineLayoutCreateInfo lci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  lci.pushConstantRangeCount = push_size ? 1 : 0;
  lci.pPushConstantRanges = &range;
  VkResult r = vkCreatePipelineLayout(ctx.device(), &lci, nullptr, &layout_);
  if (r != VK_SUCCESS) {
    vkDestroyShaderModule(ctx.device(), module, nullptr);
    MOEVK_VK_CHECK(r);
  }

  std::vector<VkSpecializationMapEntry> entries;
  for (uint32_t i = 0; i < spec.size(); ++i) entries.push_back({i, i * 4u, 4u});
  VkSpecializationInfo si{static_cast<uint32_t>(entries.size()), entries.data(), spec.size() * 4,
                          spec.data()};
  VkComputePipelineCreateInfo pci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  pci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  pci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  pci.stage.module = module;
  pci.stage.pName = "main";
  pci.stage.pSpecializationInfo = spec.empty() ? nullptr : &si;
  pci.layout = layout_;
  r = vkCreateComputePipelines(ctx.device(), VK_NULL_HANDLE, 1, &pci, nullptr, &pipeline_);
  vkDestroyShaderModule(ctx.device(), module, nullptr);
  if (r != VK_SUCCESS) {
    vkDestroyPipelineLayout(ctx.device(), layout_, nullptr);
    MOEVK_VK_CHECK(r);
  }
}

Pipeline::~Pipeline() {
  vkDestroyPipeline(ctx_.device(), pipeline_, nullptr);
  vkDestroyPipelineLayout(ctx_.device(), layout_, nullptr);
}

}  // namespace moevk::vk
