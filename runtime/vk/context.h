// Context: the Vulkan instance, the chosen device, its queues with a timeline semaphore each, and
// the count of device memory allocated. It owns every Vulkan object moevk creates; objects destroyed while the GPU may still use
// them are deferred until the timeline passes their last use.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <vulkan/vulkan.h>

#include "runtime/vk/features.h"

namespace moevk::vk {

class Pipeline;

// Validation-layer messages seen by any Context of this process (tests fail when this is non-zero).
uint64_t validation_message_count();
// Forgets messages counted so far: only for the test that proves the layer reports misuse.
void forget_validation_messages_for_test();

// Every Vulkan device on the system with its feature report (creates a throwaway instance).
std::vector<Features> list_devices();

// A queue with its own timeline semaphore: every submission to it signals the next value.
struct Queue {
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t family = 0;
  uint32_t index = 0;  // 0: the compute queue, 1: the dedicated transfer queue
  VkSemaphore timeline = VK_NULL_HANDLE;
  uint64_t next_value = 0;
};

// A point on one queue's timeline: the GPU is past it once that queue's semaphore reaches value.
struct TimelinePoint {
  uint32_t queue = 0;
  uint64_t value = 0;  // 0: nothing to wait for
  explicit operator bool() const { return value != 0; }
};

// Device memory as moevk counts it (DESIGN.md decision 6): every allocation of VRAM (kind Device,
// or host-visible memory that lands in a device-local heap of a discrete GPU). A budget makes an
// allocation that would exceed it fail with a clear error before vkAllocateMemory is called.
struct MemoryCounter {
  uint64_t allocated = 0;  // bytes held now
  uint64_t peak = 0;
  uint64_t budget = 0;     // 0: none
  uint64_t allocations = 0;
  uint64_t fail_after = 0;  // tests: the fail_after-th device allocation from now fails (0: never)
};

// Queue priority of a device moevk creates itself: VK_KHR/EXT_global_priority where the device has it
// (the device-wide scheduling class; a compositor keeps its frames when moevk runs at Low), else only
// the queue's priority within the process.
enum class GlobalPriority { Default = 0, Low, Medium, High, Realtime };
const char* global_priority_name(GlobalPriority p);

struct QueueOptions {
  GlobalPriority global_priority = GlobalPriority::Default;
  float priority = 1.0f;  // VkDeviceQueueCreateInfo::pQueuePriorities, in [0, 1]
};

// A device the application created and keeps (the embedding C API): moevk adopts it and never
// destroys what it did not create. Vulkan has no query for the features a VkDevice was created with,
// so the app hands the VkDeviceCreateInfo it used; moevk reads its features (pEnabledFeatures and the
// pNext chain: VkPhysicalDeviceFeatures2, Vulkan11/12/13Features and the per-feature structs) and
// extensions, and refuses a device that lacks a required one, naming every missing feature.
struct AdoptedDevice {
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  uint32_t queue_family = 0, queue_index = 0;  // a queue with compute (the app may use it too)
  const VkDeviceCreateInfo* create_info = nullptr;  // what the device was created with (read here only)
  uint32_t api_version = 0;  // the instance's apiVersion (0: take the physical device's)
  // Vulkan queues are externally synchronised: every vkQueueSubmit moevk makes on this queue runs
  // between lock() and unlock() (both may be empty when only moevk's thread submits to it).
  std::function<void()> lock, unlock;
};

// The features an adopted device lacks, by their Vulkan names (empty: usable). Optional features
// the device was created without are switched off in `f` (their fallback paths run).
std::vector<std::string> check_adopted_features(const AdoptedDevice& a, Features& f);

class Context {
 public:
  explicit Context(const DeviceOptions& options = DeviceOptions::from_env(), const QueueOptions& queue = {});
  // Adopts the application's device (see AdoptedDevice); options.validate has no effect (the app's
  // instance decides on layers). Throws moevk::Error naming the missing features.
  Context(const AdoptedDevice& device, const DeviceOptions& options);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  VkInstance instance() const { return instance_; }
  VkPhysicalDevice physical() const { return physical_; }
  VkDevice device() const { return device_; }
  // The features ops may use: the device's, minus what DeviceOptions switched off.
  const Features& features() const { return features_; }
  const DeviceOptions& options() const { return options_; }
  int device_index() const { return device_index_; }

  const Queue& compute_queue() const { return compute_; }
  // The dedicated transfer queue, or the compute queue where the device has none.
  const Queue& transfer_queue() const { return has_transfer_ ? transfer_ : compute_; }
  bool has_transfer_queue() const { return has_transfer_; }
  const Queue& queue(uint32_t index) const { return index == 1 && has_transfer_ ? transfer_ : compute_; }

  // Device memory accounting (Buffer calls count_allocation / count_free).
  const MemoryCounter& memory() const { return memory_counter_; }
  void set_memory_budget(uint64_t bytes) { memory_counter_.budget = bytes; }
  // Tests of the out-of-memory paths: the n-th counted allocation from now fails (0: never).
  void fail_allocation_after(uint64_t n) { memory_counter_.fail_after = n; }
  // Throws moevk::Error when `bytes` more would exceed the budget (or a test asked it to fail).
  void count_allocation(uint64_t bytes, const std::string& what);
  void count_free(uint64_t bytes) noexcept { memory_counter_.allocated -= bytes; }
  // Free bytes of the device-local heaps that VK_EXT_memory_budget reports (0 without it).
  uint64_t device_memory_free() const;
  // Whether a memory type index lies in a device-local heap.
  bool device_local_type(uint32_t type_index) const;
  // Whether the device's memory is one pool with the host's (iGPU, lavapipe), whatever the options
  // say: then only allocations of kind Device count as GPU memory.
  bool physically_unified() const { return physically_unified_; }

  // Memory type index with the required flags (preferring `preferred` too); throws when none.
  uint32_t memory_type(uint32_t type_bits, VkMemoryPropertyFlags required,
                       VkMemoryPropertyFlags preferred = 0) const;

  // Timelines: submit() signals the next value of q's semaphore, after waiting (on the GPU) for
  // every point in `waits`, on either queue.
  TimelinePoint submit(const Queue& q, VkCommandBuffer cb, const std::vector<TimelinePoint>& waits = {});
  void wait(TimelinePoint p);  // blocks the host until the GPU is past p
  uint64_t completed(uint32_t queue) const;
  bool done(TimelinePoint p) const { return !p || completed(p.queue) >= p.value; }
  // Runs fn once the GPU is past p (at a later collect() or at destruction).
  void defer(TimelinePoint p, std::function<void()> fn);
  void collect();  // runs deferred destructions the GPU is past

  // Whether the device is the application's (adopted: moevk destroys none of its objects).
  bool adopted() const { return adopted_; }
  // The global priority the queue was created with (Default: none asked, or the device lacks it).
  GlobalPriority global_priority() const { return global_priority_; }
  // Blocks until the GPU finished everything moevk submitted (never vkDeviceWaitIdle on an adopted
  // device: the app's own work is not moevk's to wait for).
  void wait_idle();

  // Load-time self-checks of paths the test machines cannot run (ops/matmul_coopmat.cpp): whether
  // the check named `name` ran on this context, and a failed check switching its feature off, so
  // every op sees the fallback from then on.
  bool self_checked(const std::string& name) const { return self_checked_.count(name) != 0; }
  void mark_self_checked(const std::string& name) { self_checked_.insert(name); }
  void switch_off_coopmat() { features_.coopmat_nv = features_.coopmat_khr = false; }

  // Cached compute pipelines keyed by variant name + specialization constants.
  Pipeline& pipeline(const std::string& variant, uint32_t push_size,
                     const std::vector<uint32_t>& spec = {});

 private:
  DeviceOptions options_;
  Features features_;
  int device_index_ = -1;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkPhysicalDeviceMemoryProperties memory_{};
  Queue compute_, transfer_;
  bool has_transfer_ = false;
  bool physically_unified_ = false;
  bool adopted_ = false;
  GlobalPriority global_priority_ = GlobalPriority::Default;
  std::function<void()> lock_queue_, unlock_queue_;  // adopted: around every vkQueueSubmit
  void create_timelines();
  MemoryCounter memory_counter_;
  std::vector<std::pair<TimelinePoint, std::function<void()>>> deferred_;
  std::map<std::string, std::unique_ptr<Pipeline>> pipelines_;
  std::set<std::string> self_checked_;
};

}  // namespace moevk::vk
