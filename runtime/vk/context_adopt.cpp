// vk::Context on the application's device (the embedding C API): what the device was created with,
// checked against what moevk needs; the device, its queue and the instance stay the application's.
#include <algorithm>
#include <cstring>

#include "runtime/vk/check.h"
#include "runtime/vk/context.h"
#include "runtime/vk/pipeline.h"

namespace moevk::vk {

std::vector<std::string> check_adopted_features(const AdoptedDevice& a, Features& f) {
  std::vector<std::string> missing;
  if (!a.create_info) {
    missing.push_back("(no VkDeviceCreateInfo given: moevk cannot tell what the device enables)");
    return missing;
  }
  // What the device was created with: pEnabledFeatures, then every feature struct of the chain
  // (the core 1.1/1.2/1.3 structs or the per-feature structs they replace).
  bool bda = false, timeline = false, int64 = false, fp16 = false, int8 = false, s16 = false,
       s8 = false, sgc = false, idot = false, coopmat = false, memory_model = false;
  if (a.create_info->pEnabledFeatures) int64 = a.create_info->pEnabledFeatures->shaderInt64;
  for (auto* p = static_cast<const VkBaseInStructure*>(a.create_info->pNext); p; p = p->pNext) {
    switch (p->sType) {
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2:
        int64 =
            int64 || reinterpret_cast<const VkPhysicalDeviceFeatures2*>(p)->features.shaderInt64;
        break;
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES:
        s16 =
            s16 ||
            reinterpret_cast<const VkPhysicalDeviceVulkan11Features*>(p)->storageBuffer16BitAccess;
        break;
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES: {
        auto* v = reinterpret_cast<const VkPhysicalDeviceVulkan12Features*>(p);
        bda = bda || v->bufferDeviceAddress;
        timeline = timeline || v->timelineSemaphore;
        fp16 = fp16 || v->shaderFloat16;
        int8 = int8 || v->shaderInt8;
        s8 = s8 || v->storageBuffer8BitAccess;
        memory_model = memory_model || v->vulkanMemoryModel;
        break;
      }
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES: {
        auto* v = reinterpret_cast<const VkPhysicalDeviceVulkan13Features*>(p);
        sgc = sgc || (v->subgroupSizeControl && v->computeFullSubgroups);
        idot = idot || v->shaderIntegerDotProduct;
        break;
      }
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES:
        idot = idot || reinterpret_cast<const VkPhysicalDeviceShaderIntegerDotProductFeatures*>(p)
                           ->shaderIntegerDotProduct;
        break;
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_BUFFER_DEVICE_ADDRESS_FEATURES:
        bda = bda || reinterpret_cast<const VkPhysicalDeviceBufferDeviceAddressFeatures*>(p)
                         ->bufferDeviceAddress;
        break;
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES:
        timeline = timeline || reinterpret_cast<const VkPhysicalDeviceTimelineSemaphoreFeatures*>(p)
                                   ->timelineSemaphore;
        break;
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES: {
        auto* v = reinterpret_cast<const VkPhysicalDeviceShaderFloat16Int8Features*>(p);
        fp16 = fp16 || v->shaderFloat16;
        int8 = int8 || v->shaderInt8;
        break;
      }
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES:
        s16 = s16 || reinterpret_cast<const VkPhysicalDevice16BitStorageFeatures*>(p)
                         ->storageBuffer16BitAccess;
        break;
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES:
        s8 = s8 || reinterpret_cast<const VkPhysicalDevice8BitStorageFeatures*>(p)
                       ->storageBuffer8BitAccess;
        break;
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES:
        memory_model =
            memory_model ||
            reinterpret_cast<const VkPhysicalDeviceVulkanMemoryModelFeatures*>(p)->vulkanMemoryModel;
        break;
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV:
        coopmat = coopmat || reinterpret_cast<const VkPhysicalDeviceCooperativeMatrixFeaturesNV*>(p)
                                 ->cooperativeMatrix;
        break;
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES: {
        auto* v = reinterpret_cast<const VkPhysicalDeviceSubgroupSizeControlFeatures*>(p);
        sgc = sgc || (v->subgroupSizeControl && v->computeFullSubgroups);
        break;
      }
      default:
        break;
    }
  }
  auto ext = [&](const char* name) {
    for (uint32_t i = 0; i < a.create_info->enabledExtensionCount; ++i)
      if (std::strcmp(a.create_info->ppEnabledExtensionNames[i], name) == 0) return true;
    return false;
  };
  const uint32_t api = a.api_version ? std::min(a.api_version, f.api_version) : f.api_version;
  if (api < VK_API_VERSION_1_2)
    missing.push_back(fmt::format("Vulkan 1.2 (the instance asks for {}.{})",
                                  VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api)));
  if (!bda) missing.push_back("bufferDeviceAddress (VkPhysicalDeviceVulkan12Features)");
  if (!timeline) missing.push_back("timelineSemaphore (VkPhysicalDeviceVulkan12Features)");
  if (!int64) missing.push_back("shaderInt64 (VkPhysicalDeviceFeatures)");
  // Optional: what the app left off runs on the fallback paths.
  f.fp16 = f.fp16 && fp16;
  f.int8 = f.int8 && int8;
  f.storage16 = f.storage16 && s16;
  f.storage8 = f.storage8 && s8;
  if (!sgc ||
      (f.api_version < VK_API_VERSION_1_3 && !ext(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME)))
    f.subgroup_size_control = false;
  f.memory_budget = f.memory_budget && ext(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  f.external_memory_host =
      f.external_memory_host && ext(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
  f.int_dot = f.int_dot && idot &&
              (api >= VK_API_VERSION_1_3 || ext(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME));
  f.coopmat_khr = false;  // moevk's own device does not enable it either
  // The prefill matmul on NV cooperative matrices: only where the app enabled the extension, its
  // feature, the Vulkan memory model and float16 (f.fp16, above).
  f.coopmat_nv = f.coopmat_nv && coopmat && memory_model && f.fp16 &&
                 ext(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  return missing;
}

Context::Context(const AdoptedDevice& a, const DeviceOptions& options) : options_(options) {
  options_.validate = false;  // the app's instance decides on layers
  adopted_ = true;
  if (!a.instance || !a.physical || !a.device)
    fail("adopting a device needs the VkInstance, VkPhysicalDevice and VkDevice (one is null)");
  if (a.api_version && a.api_version < VK_API_VERSION_1_2)
    fail(
        "the application's VkInstance asks for Vulkan {}.{}; moevk needs 1.2 "
        "(VkApplicationInfo::apiVersion)",
        VK_API_VERSION_MAJOR(a.api_version), VK_API_VERSION_MINOR(a.api_version));
  instance_ = a.instance;
  physical_ = a.physical;
  features_ = query_features(physical_, instance_);
  const std::vector<std::string> missing = check_adopted_features(a, features_);
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    device_ = VK_NULL_HANDLE;
    fail(
        "the application's VkDevice on {} lacks what moevk needs: {} (enable them in "
        "vkCreateDevice)",
        features_.name, list);
  }
  uint32_t n_fam = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &n_fam, nullptr);
  std::vector<VkQueueFamilyProperties> fams(n_fam);
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &n_fam, fams.data());
  if (a.queue_family >= n_fam)
    fail("queue family {} does not exist on {} ({} families)", a.queue_family, features_.name,
         n_fam);
  if (!(fams[a.queue_family].queueFlags & VK_QUEUE_COMPUTE_BIT))
    fail("queue family {} of {} has no compute capability", a.queue_family, features_.name);
  if (a.queue_index >= fams[a.queue_family].queueCount)
    fail("queue index {} is past the {} queue(s) of family {}", a.queue_index,
         fams[a.queue_family].queueCount, a.queue_family);
  physically_unified_ = features_.unified_memory;
  memory_counter_.fail_after = options.fail_allocation;
  apply_options(features_, options_);
  features_.transfer_queue = false;  // one queue: the app's
  vkGetPhysicalDeviceMemoryProperties(physical_, &memory_);
  device_ = a.device;
  compute_.family = a.queue_family;
  vkGetDeviceQueue(device_, a.queue_family, a.queue_index, &compute_.queue);
  lock_queue_ = a.lock;
  unlock_queue_ = a.unlock;
  try {
    create_timelines();
  } catch (...) {
    for (Queue* q : {&compute_, &transfer_})
      if (q->timeline) vkDestroySemaphore(device_, q->timeline, nullptr);
    throw;
  }
}

}  // namespace moevk::vk
