// Context: the Vulkan instance, the chosen device, its queues and the timeline semaphore that orders
// submissions. It owns every Vulkan object moevk creates; objects destroyed while the GPU may still use
// them are deferred until the timeline passes their last use.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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

struct Queue {
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t family = 0;
};

class Context {
 public:
  explicit Context(const DeviceOptions& options = DeviceOptions::from_env());
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

  // Memory type index with the required flags (preferring `preferred` too); throws when none.
  uint32_t memory_type(uint32_t type_bits, VkMemoryPropertyFlags required,
                       VkMemoryPropertyFlags preferred = 0) const;

  // Timeline: submit() signals the next value on the shared timeline semaphore.
  uint64_t submit(const Queue& q, VkCommandBuffer cb, uint64_t wait_value = 0);
  void wait(uint64_t value);
  uint64_t completed() const;
  // Runs fn once the timeline reaches `value` (or at the next collect()/destruction).
  void defer(uint64_t value, std::function<void()> fn);
  void collect();  // runs deferred destructions whose value has completed

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
  VkSemaphore timeline_ = VK_NULL_HANDLE;
  uint64_t next_value_ = 0;
  std::vector<std::pair<uint64_t, std::function<void()>>> deferred_;
  std::map<std::string, std::unique_ptr<Pipeline>> pipelines_;
};

}  // namespace moevk::vk
