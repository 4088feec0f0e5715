// What a Vulkan device can do, as moevk sees it: the printable feature report of `moevk devices` and
// the switches that pick each op's fast path or fallback.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <vulkan/vulkan.h>

namespace moevk::vk {

struct Features {
  std::string name;
  std::string type;  // "discrete", "integrated", "virtual", "cpu", "other"
  std::string driver;
  uint32_t api_version = 0;
  uint32_t vendor_id = 0, device_id = 0;

  // Optional features: each has a fast path and a tested fallback.
  bool fp16 = false;             // shaderFloat16
  bool int8 = false;             // shaderInt8
  bool storage16 = false;        // storageBuffer16BitAccess
  bool storage8 = false;         // storageBuffer8BitAccess
  bool subgroup_arith = false;   // subgroup basic+arithmetic ops in compute shaders
  bool subgroup_shuffle = false;  // subgroup_arith and subgroupShuffle (tiled attention on CPUs)
  bool subgroup_size_control = false;
  uint32_t subgroup_size = 1, subgroup_min = 1, subgroup_max = 1;
  bool int_dot = false;          // shaderIntegerDotProduct
  bool coopmat_khr = false;      // VK_KHR_cooperative_matrix
  // VK_NV_cooperative_matrix usable by the prefill matmul (ops/matmul_coopmat.cpp): the extension,
  // a subgroup-scope 16x16x16 fp16 x fp16 -> fp32 entry for compute, shaderFloat16,
  // vulkanMemoryModel, subgroup size 32 and 32 KiB of shared memory. coopmat_nv_present: the
  // extension alone (the report says why it is not usable).
  bool coopmat_nv = false;
  bool coopmat_nv_present = false;
  std::string coopmat_nv_gap;  // present but not usable: what is missing
  bool external_memory_host = false;
  bool memory_budget = false;
  bool unified_memory = false;   // device-local memory is host-visible (iGPU, CPU device)
  bool transfer_queue = false;   // a queue family with transfer but not graphics/compute
  // Not a Vulkan feature: the device runs shaders as SIMD code on a CPU (type "cpu") and has subgroup
  // ballot ops on a subgroup of 4-32, so the weight products take the row-lane kernels
  // (shaders/common/row_lanes.glsl); MOEVK_DISABLE=row_lanes (or subgroup) runs the GPU kernels.
  bool row_lanes = false;

  // Required (a device without them is listed but cannot be used).
  bool buffer_device_address = false;
  bool timeline_semaphore = false;
  bool shader_int64 = false;

  // Limits that shape memory and dispatch.
  uint64_t max_allocation = 0;
  uint64_t max_storage_range = 0;
  uint64_t device_local_bytes = 0;
  uint32_t max_shared_memory = 0;
  uint32_t max_push_constants = 0;
  uint32_t max_workgroup_count[3] = {0, 0, 0};
  uint32_t max_workgroup_invocations = 0;
  float timestamp_period_ns = 0;
  bool timestamps = false;

  bool usable() const { return buffer_device_address && timeline_semaphore && api_version >= VK_API_VERSION_1_2; }
  // Multi-line human-readable report.
  std::string report() const;
};

// Reads the features of a physical device (the instance must be 1.2+; without it the extension
// queries that need an instance function, cooperative matrices, read as absent).
Features query_features(VkPhysicalDevice pd, VkInstance instance = VK_NULL_HANDLE);

// Whether vkGetPhysicalDeviceCooperativeMatrixPropertiesNV's list has the entry matmul_coopmat.comp
// multiplies with: M = N = K = 16, A and B float16, C and D float32, subgroup scope.
bool has_coopmat_nv_f16_16x16x16(const std::vector<VkCooperativeMatrixPropertiesNV>& entries);

// Switches that force fallbacks (tests) or pick a device. MOEVK_DISABLE="subgroup,fp16,..." and
// MOEVK_DEVICE=N fill them from the environment.
struct DeviceOptions {
  int device_index = -1;    // -1: the best device (discrete GPU first)
  bool validate = false;    // Khronos validation layer + debug messenger (MOEVK_VALIDATE=1)
  bool no_fp16 = false;
  bool no_int8 = false;
  bool no_storage16 = false;
  bool no_storage8 = false;
  bool no_subgroup = false;
  bool no_int_dot = false;
  bool no_coopmat = false;
  bool no_transfer_queue = false;
  bool no_external_memory_host = false;
  bool no_memory_budget = false;
  // Treats a unified-memory device (iGPU, lavapipe) as discrete: experts are copied into VRAM slots
  // and host memory is kept apart, so the discrete-GPU streaming path runs on any device.
  bool no_unified = false;
  bool no_tiled = false;  // not a device feature: prefill uses the matvecs instead of matmul.comp
  bool no_row_lanes = false;  // CPU devices run the GPU kernels (block per lane), not the row lanes
  bool no_tiled_attention = false;  // not a device feature: prefill attention per token, not tiled
  bool no_moe_router = false;  // not a device feature: decode keeps rms_norm, router, gate_topk apart
  // Tests of the out-of-memory paths: the n-th device allocation fails (MOEVK_FAIL_ALLOCATION=n).
  uint64_t fail_allocation = 0;

  static DeviceOptions from_env();
  // Applies a comma-separated list of feature names to disable; unknown names are an error.
  void disable(const std::string& list);
};

// Clears the features the options switch off, so every op sees the fallback.
void apply_options(Features& f, const DeviceOptions& o);

}  // namespace moevk::vk
