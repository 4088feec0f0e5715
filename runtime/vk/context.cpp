#include "runtime/vk/context.h"

#include <cstdio>
#include <algorithm>
#include <cstring>

#include "runtime/vk/check.h"
#include "runtime/vk/pipeline.h"

namespace moevk::vk {

namespace {

std::atomic<uint64_t> g_validation_messages{0};
const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                              VkDebugUtilsMessageTypeFlagsEXT,
                                              const VkDebugUtilsMessengerCallbackDataEXT* data, void*) {
  if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    ++g_validation_messages;
    std::fprintf(stderr, "moevk: Vulkan validation: %s\n", data->pMessage);
  }
  return VK_FALSE;
}

bool layer_available(const char* name) {
  uint32_t n = 0;
  vkEnumerateInstanceLayerProperties(&n, nullptr);
  std::vector<VkLayerProperties> layers(n);
  vkEnumerateInstanceLayerProperties(&n, layers.data());
  for (auto& l : layers)
    if (std::strcmp(l.layerName, name) == 0) return true;
  return false;
}

VkInstance create_instance(bool validate, VkDebugUtilsMessengerEXT* messenger) {
  uint32_t loader_version = VK_API_VERSION_1_0;
  vkEnumerateInstanceVersion(&loader_version);
  if (loader_version < VK_API_VERSION_1_2)
    fail("the Vulkan loader supports only {}.{}; moevk needs Vulkan 1.2",
         VK_API_VERSION_MAJOR(loader_version), VK_API_VERSION_MINOR(loader_version));
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "moevk";
  app.pEngineName = "moevk";
  app.apiVersion = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;
  std::vector<const char*> layers, exts;
  if (validate) {
    if (!layer_available(kValidationLayer))
      fail("MOEVK_VALIDATE=1 but the Khronos validation layer is not installed "
           "(apt-get install vulkan-validationlayers)");
    layers.push_back(kValidationLayer);
    exts.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }
  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ci.pApplicationInfo = &app;
  ci.enabledLayerCount = static_cast<uint32_t>(layers.size());
  ci.ppEnabledLayerNames = layers.data();
  ci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
  ci.ppEnabledExtensionNames = exts.data();
  VkDebugUtilsMessengerCreateInfoEXT dci{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  dci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                        VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  dci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  dci.pfnUserCallback = debug_callback;
  if (validate) ci.pNext = &dci;  // also reports instance creation/destruction problems
  VkInstance inst = VK_NULL_HANDLE;
  MOEVK_VK_CHECK(vkCreateInstance(&ci, nullptr, &inst));
  if (validate) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(inst, "vkCreateDebugUtilsMessengerEXT"));
    if (create) MOEVK_VK_CHECK(create(inst, &dci, nullptr, messenger));
  }
  return inst;
}

std::vector<VkPhysicalDevice> physical_devices(VkInstance inst) {
  uint32_t n = 0;
  MOEVK_VK_CHECK(vkEnumeratePhysicalDevices(inst, &n, nullptr));
  std::vector<VkPhysicalDevice> pds(n);
  if (n) MOEVK_VK_CHECK(vkEnumeratePhysicalDevices(inst, &n, pds.data()));
  return pds;
}

int type_rank(const std::string& type) {
  if (type == "discrete") return 0;
  if (type == "integrated") return 1;
  if (type == "virtual") return 2;
  if (type == "cpu") return 3;
  return 4;
}

bool device_has_extension(VkPhysicalDevice pd, const char* name) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, exts.data());
  for (const auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

VkQueueGlobalPriorityKHR vk_priority(GlobalPriority p) {
  switch (p) {
    case GlobalPriority::Low: return VK_QUEUE_GLOBAL_PRIORITY_LOW_KHR;
    case GlobalPriority::High: return VK_QUEUE_GLOBAL_PRIORITY_HIGH_KHR;
    case GlobalPriority::Realtime: return VK_QUEUE_GLOBAL_PRIORITY_REALTIME_KHR;
    default: return VK_QUEUE_GLOBAL_PRIORITY_MEDIUM_KHR;
  }
}

}  // namespace

const char* global_priority_name(GlobalPriority p) {
  switch (p) {
    case GlobalPriority::Default: return "default";
    case GlobalPriority::Low: return "low";
    case GlobalPriority::Medium: return "medium";
    case GlobalPriority::High: return "high";
    case GlobalPriority::Realtime: return "realtime";
  }
  return "?";
}

uint64_t validation_message_count() { return g_validation_messages.load(); }
void forget_validation_messages_for_test() { g_validation_messages = 0; }

std::vector<Features> list_devices() {
  VkDebugUtilsMessengerEXT m = VK_NULL_HANDLE;
  VkInstance inst = create_instance(false, &m);
  std::vector<Features> out;
  for (VkPhysicalDevice pd : physical_devices(inst)) out.push_back(query_features(pd, inst));
  vkDestroyInstance(inst, nullptr);
  return out;
}

Context::Context(const DeviceOptions& options, const QueueOptions& queue_options) : options_(options) {
  instance_ = create_instance(options.validate, &messenger_);
  try {
    std::vector<VkPhysicalDevice> pds = physical_devices(instance_);
    if (pds.empty())
      fail("no Vulkan device found (install a driver; for the CPU: apt-get install mesa-vulkan-drivers)");
    std::vector<Features> feats;
    for (VkPhysicalDevice pd : pds) feats.push_back(query_features(pd, instance_));
    if (options.device_index >= 0) {
      if (options.device_index >= static_cast<int>(pds.size()))
        fail("device {} requested but only {} Vulkan device(s) exist (see `moevk devices`)",
             options.device_index, pds.size());
      if (!feats[options.device_index].usable())
        fail("device {} ({}) lacks Vulkan 1.2 bufferDeviceAddress/timelineSemaphore", options.device_index,
             feats[options.device_index].name);
      device_index_ = options.device_index;
    } else {
      for (int i = 0; i < static_cast<int>(pds.size()); ++i) {
        if (!feats[i].usable()) continue;
        if (device_index_ < 0 || type_rank(feats[i].type) < type_rank(feats[device_index_].type) ||
            (type_rank(feats[i].type) == type_rank(feats[device_index_].type) &&
             feats[i].device_local_bytes > feats[device_index_].device_local_bytes))
          device_index_ = i;
      }
      if (device_index_ < 0)
        fail("no usable Vulkan device: moevk needs Vulkan 1.2 with bufferDeviceAddress and "
             "timelineSemaphore");
    }
    physical_ = pds[device_index_];
    features_ = feats[device_index_];
    physically_unified_ = features_.unified_memory;
    memory_counter_.fail_after = options.fail_allocation;
    apply_options(features_, options);
    vkGetPhysicalDeviceMemoryProperties(physical_, &memory_);

    // Queues: one compute queue; a transfer-only family where one exists and is not switched off.
    uint32_t n_fam = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &n_fam, nullptr);
    std::vector<VkQueueFamilyProperties> fams(n_fam);
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &n_fam, fams.data());
    int compute_family = -1, transfer_family = -1;
    for (uint32_t i = 0; i < n_fam; ++i) {
      VkQueueFlags fl = fams[i].queueFlags;
      if ((fl & VK_QUEUE_COMPUTE_BIT) && compute_family < 0) compute_family = static_cast<int>(i);
      if ((fl & VK_QUEUE_TRANSFER_BIT) && !(fl & (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT)) &&
          transfer_family < 0)
        transfer_family = static_cast<int>(i);
    }
    if (compute_family < 0) fail("device {} has no compute queue", features_.name);
    has_transfer_ = features_.transfer_queue && transfer_family >= 0;
    float prio = std::clamp(queue_options.priority, 0.0f, 1.0f);
    std::vector<VkDeviceQueueCreateInfo> qcis;
    VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qci.queueFamilyIndex = static_cast<uint32_t>(compute_family);
    qci.queueCount = 1;
    qci.pQueuePriorities = &prio;
    // Global priority where the device has VK_KHR_global_priority or VK_EXT_global_priority.
    const char* gp_ext = nullptr;
    if (queue_options.global_priority != GlobalPriority::Default) {
      if (device_has_extension(physical_, VK_KHR_GLOBAL_PRIORITY_EXTENSION_NAME))
        gp_ext = VK_KHR_GLOBAL_PRIORITY_EXTENSION_NAME;
      else if (device_has_extension(physical_, VK_EXT_GLOBAL_PRIORITY_EXTENSION_NAME))
        gp_ext = VK_EXT_GLOBAL_PRIORITY_EXTENSION_NAME;
    }
    VkDeviceQueueGlobalPriorityCreateInfoKHR gpci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_GLOBAL_PRIORITY_CREATE_INFO_KHR};
    gpci.globalPriority = vk_priority(queue_options.global_priority);
    if (gp_ext) qci.pNext = &gpci;
    qcis.push_back(qci);
    if (has_transfer_) {
      qci.queueFamilyIndex = static_cast<uint32_t>(transfer_family);
      qcis.push_back(qci);
    }

    // Features to enable: the required ones plus each optional one the options leave on.
    VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceSubgroupSizeControlFeatures fsgc{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    f2.pNext = &f11;
    f11.pNext = &f12;
    f2.features.shaderInt64 = features_.shader_int64;
    f11.storageBuffer16BitAccess = features_.storage16;
    f12.shaderFloat16 = features_.fp16;
    f12.shaderInt8 = features_.int8;
    f12.storageBuffer8BitAccess = features_.storage8;
    f12.bufferDeviceAddress = VK_TRUE;
    f12.timelineSemaphore = VK_TRUE;
    std::vector<const char*> exts;
    if (features_.subgroup_size_control) {
      fsgc.subgroupSizeControl = VK_TRUE;
      fsgc.computeFullSubgroups = VK_TRUE;
      f12.pNext = &fsgc;
      if (features_.api_version < VK_API_VERSION_1_3)
        exts.push_back(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    }
    // Integer dot products (the int-dot matvecs): core in 1.3, VK_KHR_shader_integer_dot_product before.
    VkPhysicalDeviceShaderIntegerDotProductFeatures fdot{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
    if (features_.int_dot) {
      fdot.shaderIntegerDotProduct = VK_TRUE;
      fdot.pNext = f12.pNext;
      f12.pNext = &fdot;
      if (features_.api_version < VK_API_VERSION_1_3)
        exts.push_back(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    }
    // Cooperative matrices (the prefill matmul, ops/matmul_coopmat.h): the NV extension, its
    // feature and the Vulkan memory model its SPIR-V declares; only where query_features found
    // them usable.
    VkPhysicalDeviceCooperativeMatrixFeaturesNV fcm{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    if (features_.coopmat_nv) {
      fcm.cooperativeMatrix = VK_TRUE;
      fcm.pNext = f12.pNext;
      f12.pNext = &fcm;
      f12.vulkanMemoryModel = VK_TRUE;
      exts.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
    }
    if (features_.memory_budget) exts.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    if (features_.external_memory_host) exts.push_back(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
    VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    dci.pNext = &f2;
    dci.queueCreateInfoCount = static_cast<uint32_t>(qcis.size());
    dci.pQueueCreateInfos = qcis.data();
    if (gp_ext) exts.push_back(gp_ext);
    dci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
    dci.ppEnabledExtensionNames = exts.data();
    VkResult r = vkCreateDevice(physical_, &dci, nullptr, &device_);
    if (gp_ext && (r == VK_ERROR_NOT_PERMITTED_KHR || r == VK_ERROR_INITIALIZATION_FAILED)) {
      // High and realtime may need privileges: fall back to the default class.
      for (auto& q : qcis) q.pNext = nullptr;
      exts.pop_back();
      dci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
      gp_ext = nullptr;
      r = vkCreateDevice(physical_, &dci, nullptr, &device_);
    }
    MOEVK_VK_CHECK(r);
    if (gp_ext) global_priority_ = queue_options.global_priority;
    compute_.family = static_cast<uint32_t>(compute_family);
    vkGetDeviceQueue(device_, compute_.family, 0, &compute_.queue);
    if (has_transfer_) {
      transfer_.family = static_cast<uint32_t>(transfer_family);
      vkGetDeviceQueue(device_, transfer_.family, 0, &transfer_.queue);
    }

    create_timelines();
  } catch (...) {
    for (Queue* q : {&compute_, &transfer_})
      if (q->timeline) vkDestroySemaphore(device_, q->timeline, nullptr);
    if (device_) vkDestroyDevice(device_, nullptr);
    if (messenger_) {
      auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
          vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
      if (destroy) destroy(instance_, messenger_, nullptr);
    }
    vkDestroyInstance(instance_, nullptr);
    throw;
  }
}

void Context::create_timelines() {
  for (Queue* q : {&compute_, &transfer_}) {
    if (q == &transfer_ && !has_transfer_) break;
    VkSemaphoreTypeCreateInfo tci{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
    tci.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    sci.pNext = &tci;
    MOEVK_VK_CHECK(vkCreateSemaphore(device_, &sci, nullptr, &q->timeline));
  }
  transfer_.index = 1;
}

void Context::wait_idle() {
  for (Queue* q : {&compute_, &transfer_}) {
    if (!q->timeline || q->next_value == 0) continue;
    VkSemaphoreWaitInfo wi{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
    wi.semaphoreCount = 1;
    wi.pSemaphores = &q->timeline;
    wi.pValues = &q->next_value;
    MOEVK_VK_CHECK(vkWaitSemaphores(device_, &wi, UINT64_MAX));
  }
  collect();
}

Context::~Context() {
  if (adopted_) {
    try {
      wait_idle();
    } catch (...) {
    }
    for (auto& [value, fn] : deferred_) fn();
    deferred_.clear();
    pipelines_.clear();
    for (Queue* q : {&compute_, &transfer_})
      if (q->timeline) vkDestroySemaphore(device_, q->timeline, nullptr);
    return;  // the device and the instance are the application's
  }
  if (device_) {
    vkDeviceWaitIdle(device_);
    for (auto& [value, fn] : deferred_) fn();
    deferred_.clear();
    pipelines_.clear();
    for (Queue* q : {&compute_, &transfer_})
      if (q->timeline) vkDestroySemaphore(device_, q->timeline, nullptr);
    vkDestroyDevice(device_, nullptr);
  }
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
  }
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

uint32_t Context::memory_type(uint32_t type_bits, VkMemoryPropertyFlags required,
                              VkMemoryPropertyFlags preferred) const {
  for (int pass = 0; pass < 2; ++pass) {
    VkMemoryPropertyFlags want = pass == 0 ? (required | preferred) : required;
    for (uint32_t i = 0; i < memory_.memoryTypeCount; ++i)
      if ((type_bits & (1u << i)) && (memory_.memoryTypes[i].propertyFlags & want) == want) return i;
  }
  fail("device {} has no memory type with flags 0x{:x} (allowed types 0x{:x})", features_.name, required,
       type_bits);
}

TimelinePoint Context::submit(const Queue& q_in, VkCommandBuffer cb, const std::vector<TimelinePoint>& waits) {
  Queue& q = q_in.index == 1 && has_transfer_ ? transfer_ : compute_;
  const uint64_t signal = ++q.next_value;
  std::vector<VkSemaphore> sems;
  std::vector<uint64_t> values;
  std::vector<VkPipelineStageFlags> stages;
  for (const TimelinePoint& w : waits) {
    if (!w) continue;
    const Queue& wq = queue(w.queue);
    MOEVK_ASSERT(&wq != &q || w.value < signal, "a submission cannot wait for its own queue's future");
    sems.push_back(wq.timeline);
    values.push_back(w.value);
    stages.push_back(VK_PIPELINE_STAGE_ALL_COMMANDS_BIT);
  }
  VkTimelineSemaphoreSubmitInfo tsi{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
  tsi.signalSemaphoreValueCount = 1;
  tsi.pSignalSemaphoreValues = &signal;
  tsi.waitSemaphoreValueCount = static_cast<uint32_t>(values.size());
  tsi.pWaitSemaphoreValues = values.data();
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.pNext = &tsi;
  si.commandBufferCount = cb ? 1 : 0;
  si.pCommandBuffers = &cb;
  si.signalSemaphoreCount = 1;
  si.pSignalSemaphores = &q.timeline;
  si.waitSemaphoreCount = static_cast<uint32_t>(sems.size());
  si.pWaitSemaphores = sems.data();
  si.pWaitDstStageMask = stages.data();
  if (lock_queue_) lock_queue_();
  VkResult r = vkQueueSubmit(q.queue, 1, &si, VK_NULL_HANDLE);
  if (unlock_queue_) unlock_queue_();
  if (r != VK_SUCCESS) --q.next_value;
  MOEVK_VK_CHECK(r);
  return {q.index, signal};
}

void Context::wait(TimelinePoint p) {
  if (!p) return;
  VkSemaphoreWaitInfo wi{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
  wi.semaphoreCount = 1;
  wi.pSemaphores = &queue(p.queue).timeline;
  wi.pValues = &p.value;
  MOEVK_VK_CHECK(vkWaitSemaphores(device_, &wi, UINT64_MAX));
  collect();
}

uint64_t Context::completed(uint32_t index) const {
  uint64_t v = 0;
  MOEVK_VK_CHECK(vkGetSemaphoreCounterValue(device_, queue(index).timeline, &v));
  return v;
}

void Context::defer(TimelinePoint p, std::function<void()> fn) { deferred_.emplace_back(p, std::move(fn)); }

void Context::collect() {
  std::vector<std::pair<TimelinePoint, std::function<void()>>> keep;
  for (auto& d : deferred_) {
    if (done(d.first)) d.second();
    else keep.push_back(std::move(d));
  }
  deferred_ = std::move(keep);
}

void Context::count_allocation(uint64_t bytes, const std::string& what) {
  MemoryCounter& m = memory_counter_;
  if (m.fail_after && --m.fail_after == 0)
    fail("out of device memory allocating {} bytes for {} (a test's simulated failure)", bytes, what);
  if (m.budget && m.allocated + bytes > m.budget)
    fail("GPU memory budget exceeded: {} needs {} bytes, {} of the budget's {} bytes are already "
         "allocated (raise --gpu-mem)", what, bytes, m.allocated, m.budget);
  m.allocated += bytes;
  m.peak = std::max(m.peak, m.allocated);
  ++m.allocations;
}

bool Context::device_local_type(uint32_t type_index) const {
  if (type_index >= memory_.memoryTypeCount) return false;
  const uint32_t heap = memory_.memoryTypes[type_index].heapIndex;
  return (memory_.memoryHeaps[heap].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
}

uint64_t Context::device_memory_free() const {
  if (!features_.memory_budget) return 0;
  VkPhysicalDeviceMemoryBudgetPropertiesEXT mb{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
  VkPhysicalDeviceMemoryProperties2 mp{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
  mp.pNext = &mb;
  vkGetPhysicalDeviceMemoryProperties2(physical_, &mp);
  uint64_t free = 0;
  for (uint32_t i = 0; i < mp.memoryProperties.memoryHeapCount; ++i)
    if (mp.memoryProperties.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      free += mb.heapBudget[i] > mb.heapUsage[i] ? mb.heapBudget[i] - mb.heapUsage[i] : 0;
  return free;
}

Pipeline& Context::pipeline(const std::string& variant, uint32_t push_size,
                            const std::vector<uint32_t>& spec) {
  std::string key = variant;
  for (uint32_t s : spec) key += fmt::format(":{}", s);
  auto it = pipelines_.find(key);
  if (it != pipelines_.end()) {
    MOEVK_ASSERT(it->second->push_size() == push_size, "push-constant size differs for " + variant);
    return *it->second;
  }
  auto p = std::make_unique<Pipeline>(*this, variant, push_size, spec);
  Pipeline& ref = *p;
  pipelines_.emplace(key, std::move(p));
  return ref;
}

}  // namespace moevk::vk
