#include "runtime/vk/features.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "runtime/vk/check.h"

namespace moevk::vk {

const char* result_name(VkResult r) {
  switch (r) {
#define MOEVK_CASE(x) \
  case x:             \
    return #x;
    MOEVK_CASE(VK_SUCCESS)
    MOEVK_CASE(VK_NOT_READY)
    MOEVK_CASE(VK_TIMEOUT)
    MOEVK_CASE(VK_INCOMPLETE)
    MOEVK_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    MOEVK_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    MOEVK_CASE(VK_ERROR_INITIALIZATION_FAILED)
    MOEVK_CASE(VK_ERROR_DEVICE_LOST)
    MOEVK_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    MOEVK_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    MOEVK_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    MOEVK_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    MOEVK_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    MOEVK_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    MOEVK_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    MOEVK_CASE(VK_ERROR_FRAGMENTED_POOL)
    MOEVK_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    MOEVK_CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    MOEVK_CASE(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
#undef MOEVK_CASE
    default:
      return "VK_ERROR_(unknown)";
  }
}

static bool has_extension(const std::vector<VkExtensionProperties>& exts, const char* name) {
  for (const auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

bool has_coopmat_nv_f16_16x16x16(const std::vector<VkCooperativeMatrixPropertiesNV>& entries) {
  for (const auto& e : entries)
    if (e.MSize == 16 && e.NSize == 16 && e.KSize == 16 &&
        e.AType == VK_COMPONENT_TYPE_FLOAT16_NV && e.BType == VK_COMPONENT_TYPE_FLOAT16_NV &&
        e.CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
        e.DType == VK_COMPONENT_TYPE_FLOAT32_NV && e.scope == VK_SCOPE_SUBGROUP_NV)
      return true;
  return false;
}

// What keeps VK_NV_cooperative_matrix from matmul_coopmat.comp on a device that lists it ("" when
// nothing does): the entry it multiplies with, the features its SPIR-V declares, its subgroup size
// and shared memory.
static std::string coopmat_nv_gap(VkPhysicalDevice pd, VkInstance instance, const Features& f,
                                  bool feature, bool memory_model, VkShaderStageFlags stages) {
  if (!feature) return "cooperativeMatrix feature off";
  if (!(stages & VK_SHADER_STAGE_COMPUTE_BIT)) return "not in compute shaders";
  if (!f.fp16) return "no shaderFloat16";
  if (!memory_model) return "no vulkanMemoryModel";
  if (f.subgroup_size != 32) return fmt::format("subgroup size {} (needs 32)", f.subgroup_size);
  if (f.max_shared_memory < 32768) return "under 32 KiB of shared memory";
  const char* fn = "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV";
  auto get = instance ? reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
                            vkGetInstanceProcAddr(instance, fn))
                      : nullptr;
  if (!get) return "no vkGetPhysicalDeviceCooperativeMatrixPropertiesNV";
  uint32_t n = 0;
  if (get(pd, &n, nullptr) != VK_SUCCESS) return "its property query failed";
  std::vector<VkCooperativeMatrixPropertiesNV> entries(
      n, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
  if (get(pd, &n, entries.data()) != VK_SUCCESS) return "its property query failed";
  entries.resize(n);
  if (!has_coopmat_nv_f16_16x16x16(entries)) return "no subgroup 16x16x16 f16 x f16 -> f32 entry";
  return "";
}

Features query_features(VkPhysicalDevice pd, VkInstance instance) {
  Features f;
  VkPhysicalDeviceProperties props{};
  vkGetPhysicalDeviceProperties(pd, &props);
  f.name = props.deviceName;
  f.api_version = props.apiVersion;
  f.vendor_id = props.vendorID;
  f.device_id = props.deviceID;
  switch (props.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: f.type = "discrete"; break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: f.type = "integrated"; break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: f.type = "virtual"; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: f.type = "cpu"; break;
    default: f.type = "other"; break;
  }
  const VkPhysicalDeviceLimits& lim = props.limits;
  f.max_shared_memory = lim.maxComputeSharedMemorySize;
  f.max_push_constants = lim.maxPushConstantsSize;
  for (int i = 0; i < 3; ++i) f.max_workgroup_count[i] = lim.maxComputeWorkGroupCount[i];
  f.max_workgroup_invocations = lim.maxComputeWorkGroupInvocations;
  f.max_storage_range = lim.maxStorageBufferRange;
  f.timestamp_period_ns = lim.timestampPeriod;
  f.timestamps = lim.timestampComputeAndGraphics;
  if (props.apiVersion < VK_API_VERSION_1_2) return f;  // listed, not usable

  uint32_t n_ext = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n_ext, nullptr);
  std::vector<VkExtensionProperties> exts(n_ext);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n_ext, exts.data());
  f.coopmat_khr = has_extension(exts, "VK_KHR_cooperative_matrix");
  f.coopmat_nv_present = has_extension(exts, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  f.external_memory_host = has_extension(exts, VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
  f.memory_budget = has_extension(exts, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  bool int_dot_ext = has_extension(exts, "VK_KHR_shader_integer_dot_product");

  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceMaintenance3Properties m3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceSubgroupProperties sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceSubgroupSizeControlProperties sgc{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  p2.pNext = &driver;
  driver.pNext = &m3;
  m3.pNext = &sg;
  bool has_sgc = props.apiVersion >= VK_API_VERSION_1_3 ||
                 has_extension(exts, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
  if (has_sgc) sg.pNext = &sgc;
  VkPhysicalDeviceCooperativeMatrixPropertiesNV cmp{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_NV};
  if (f.coopmat_nv_present) {
    cmp.pNext = p2.pNext;
    p2.pNext = &cmp;
  }
  vkGetPhysicalDeviceProperties2(pd, &p2);
  f.driver = std::string(driver.driverName) + " " + driver.driverInfo;
  f.max_allocation = m3.maxMemoryAllocationSize;
  f.subgroup_size = sg.subgroupSize;
  f.subgroup_min = f.subgroup_max = sg.subgroupSize;
  const VkSubgroupFeatureFlags need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
  f.subgroup_arith = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                     (sg.supportedOperations & need) == need;
  f.subgroup_shuffle = f.subgroup_arith && (sg.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
  // Row lanes share activations by subgroupShuffle with constant lanes (a register move on
  // lavapipe, where subgroupBroadcast loops over the lanes) across a fixed subgroup size; the
  // ballot extension is still declared by their shaders.
  f.row_lanes = f.type == "cpu" && f.subgroup_shuffle &&
                (sg.supportedOperations & VK_SUBGROUP_FEATURE_BALLOT_BIT) &&
                (f.subgroup_size == 4 || f.subgroup_size == 8 || f.subgroup_size == 16 || f.subgroup_size == 32);

  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceSubgroupSizeControlFeatures fsgc{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
  VkPhysicalDeviceShaderIntegerDotProductFeatures fdot{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  f2.pNext = &f11;
  f11.pNext = &f12;
  void** tail = &f12.pNext;
  if (has_sgc) {
    *tail = &fsgc;
    tail = &fsgc.pNext;
  }
  if (int_dot_ext || props.apiVersion >= VK_API_VERSION_1_3) {
    *tail = &fdot;
    tail = &fdot.pNext;
  }
  VkPhysicalDeviceCooperativeMatrixFeaturesNV fcm{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  if (f.coopmat_nv_present) {
    *tail = &fcm;
    tail = &fcm.pNext;
  }
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  f.shader_int64 = f2.features.shaderInt64;
  f.storage16 = f11.storageBuffer16BitAccess;
  f.fp16 = f12.shaderFloat16;
  f.int8 = f12.shaderInt8;
  f.storage8 = f12.storageBuffer8BitAccess;
  f.buffer_device_address = f12.bufferDeviceAddress;
  f.timeline_semaphore = f12.timelineSemaphore;
  f.int_dot = fdot.shaderIntegerDotProduct;
  if (has_sgc && fsgc.subgroupSizeControl && fsgc.computeFullSubgroups) {
    f.subgroup_size_control = true;
    f.subgroup_min = sgc.minSubgroupSize;
    f.subgroup_max = sgc.maxSubgroupSize;
  }
  if (f.coopmat_nv_present) {
    f.coopmat_nv_gap = coopmat_nv_gap(pd, instance, f, fcm.cooperativeMatrix, f12.vulkanMemoryModel,
                                      cmp.cooperativeMatrixSupportedStages);
    f.coopmat_nv = f.coopmat_nv_gap.empty();
  }

  VkPhysicalDeviceMemoryProperties mem{};
  vkGetPhysicalDeviceMemoryProperties(pd, &mem);
  bool all_local_visible = true, any_local = false;
  for (uint32_t i = 0; i < mem.memoryHeapCount; ++i)
    if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      f.device_local_bytes += mem.memoryHeaps[i].size;
  for (uint32_t i = 0; i < mem.memoryTypeCount; ++i) {
    VkMemoryPropertyFlags fl = mem.memoryTypes[i].propertyFlags;
    if (fl & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) {
      any_local = true;
      if (!(fl & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) all_local_visible = false;
    }
  }
  f.unified_memory = any_local && all_local_visible;

  uint32_t n_fam = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n_fam, nullptr);
  std::vector<VkQueueFamilyProperties> fams(n_fam);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n_fam, fams.data());
  for (const auto& q : fams)
    if ((q.queueFlags & VK_QUEUE_TRANSFER_BIT) &&
        !(q.queueFlags & (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT)))
      f.transfer_queue = true;
  return f;
}

static const char* yes(bool b) { return b ? "yes" : "no"; }

std::string Features::report() const {
  std::ostringstream s;
  auto mib = [](uint64_t b) { return fmt::format("{:.0f} MiB", b / 1048576.0); };
  s << fmt::format("{} ({}, Vulkan {}.{}.{}, driver {})\n", name, type, VK_API_VERSION_MAJOR(api_version),
                   VK_API_VERSION_MINOR(api_version), VK_API_VERSION_PATCH(api_version), driver);
  s << fmt::format("  usable by moevk: {}{}\n", yes(usable()),
                   usable() ? "" : " (needs Vulkan 1.2 with bufferDeviceAddress and timelineSemaphore)");
  s << fmt::format("  fp16 {}  int8 {}  16-bit storage {}  8-bit storage {}  integer dot {}\n", yes(fp16),
                   yes(int8), yes(storage16), yes(storage8), yes(int_dot));
  s << fmt::format("  subgroup size {} (min {}, max {})  subgroup arithmetic {}  size control {}\n",
                   subgroup_size, subgroup_min, subgroup_max, yes(subgroup_arith),
                   yes(subgroup_size_control));
  std::string nv = yes(coopmat_nv);
  if (coopmat_nv) nv += " (prefill matmul, 16x16x16 f16 -> f32)";
  else if (coopmat_nv_present)
    nv += fmt::format(" (the extension is there: {})",
                      coopmat_nv_gap.empty() ? "switched off" : coopmat_nv_gap);
  s << fmt::format("  cooperative matrix: KHR {}  NV {}\n", yes(coopmat_khr), nv);
  s << fmt::format("  buffer device address {}  timeline semaphores {}  int64 {}\n",
                   yes(buffer_device_address), yes(timeline_semaphore), yes(shader_int64));
  s << fmt::format("  external_memory_host {}  memory_budget {}  unified memory {}  transfer queue {}\n",
                   yes(external_memory_host), yes(memory_budget), yes(unified_memory),
                   yes(transfer_queue));
  // The block-per-lane kernels' paths (ops::matvec_config_for): row lanes still fall back to them
  // for rows that are no multiple of 32.
  std::string paths;
  if (subgroup_arith && storage16) paths += ", 16-bit loads";
  if (subgroup_arith && int_dot) paths += ", integer dot";
  s << fmt::format("  weight kernels: {}{}\n", row_lanes ? "row lanes (CPU device); else block per lane" : "block per lane (GPU)",
                   paths);
  s << fmt::format("  device-local memory {}  max allocation {}  max storage range {}\n",
                   mib(device_local_bytes), mib(max_allocation), mib(max_storage_range));
  s << fmt::format("  shared memory {} KiB  push constants {} B  workgroup invocations {}  timestamps {}\n",
                   max_shared_memory / 1024, max_push_constants, max_workgroup_invocations,
                   yes(timestamps));
  return s.str();
}

void DeviceOptions::disable(const std::string& list) {
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    if (item == "fp16") no_fp16 = true;
    else if (item == "int8") no_int8 = true;
    else if (item == "storage16") no_storage16 = true;
    else if (item == "storage8") no_storage8 = true;
    else if (item == "subgroup") no_subgroup = true;
    else if (item == "int_dot") no_int_dot = true;
    else if (item == "coopmat") no_coopmat = true;
    else if (item == "transfer_queue") no_transfer_queue = true;
    else if (item == "external_memory_host") no_external_memory_host = true;
    else if (item == "tiled") no_tiled = true;
    else if (item == "unified") no_unified = true;
    else if (item == "row_lanes") no_row_lanes = true;
    else if (item == "tiled_attention") no_tiled_attention = true;
    else if (item == "moe_router") no_moe_router = true;
    else if (item == "memory_budget") no_memory_budget = true;
    else
      fail("unknown feature '{}' in MOEVK_DISABLE (known: fp16, int8, storage16, storage8, subgroup, "
           "int_dot, coopmat, transfer_queue, external_memory_host, memory_budget, unified, tiled, row_lanes, "
           "moe_router, tiled_attention)",
           item);
  }
}

DeviceOptions DeviceOptions::from_env() {
  DeviceOptions o;
  if (const char* v = std::getenv("MOEVK_VALIDATE")) o.validate = std::string(v) == "1";
  if (const char* d = std::getenv("MOEVK_DEVICE")) {
    char* end = nullptr;
    long n = std::strtol(d, &end, 10);
    if (end == d || *end != '\0' || n < 0) fail("MOEVK_DEVICE='{}' is not a device index", d);
    o.device_index = static_cast<int>(n);
  }
  if (const char* v = std::getenv("MOEVK_DISABLE")) o.disable(v);
  if (const char* v = std::getenv("MOEVK_FAIL_ALLOCATION")) {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (end == v || *end != '\0') fail("MOEVK_FAIL_ALLOCATION='{}' is not a count", v);
    o.fail_allocation = n;
  }
  return o;
}

void apply_options(Features& f, const DeviceOptions& o) {
  if (o.no_fp16) f.fp16 = false;
  if (o.no_int8) f.int8 = false;
  if (o.no_storage16) f.storage16 = false;
  if (o.no_storage8) f.storage8 = false;
  if (o.no_subgroup) f.subgroup_arith = f.subgroup_shuffle = f.subgroup_size_control = f.row_lanes = false;
  if (o.no_int_dot) f.int_dot = false;
  if (o.no_coopmat) f.coopmat_khr = f.coopmat_nv = false;
  if (o.no_transfer_queue) f.transfer_queue = false;
  if (o.no_external_memory_host) f.external_memory_host = false;
  if (o.no_memory_budget) f.memory_budget = false;
  if (o.no_unified) f.unified_memory = false;
  if (o.no_row_lanes) f.row_lanes = false;
  if (!f.fp16) f.coopmat_nv = false;  // matmul_coopmat.comp multiplies float16
}

}  // namespace moevk::vk
