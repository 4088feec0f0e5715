// Recorder: records one command buffer of dispatches, copies and barriers, submits it on the timeline.
// It is the only place that emits barriers. It counts what decides speed on a GPU: dispatches,
// barriers and submissions (host-device round trips).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <vulkan/vulkan.h>

#include "runtime/vk/buffer.h"
#include "runtime/vk/context.h"

namespace moevk::vk {

class Pipeline;

struct Counters {
  uint64_t dispatches = 0;
  uint64_t barriers = 0;
  uint64_t copies = 0;
  uint64_t submits = 0;
};

class Recorder {
 public:
  explicit Recorder(Context& ctx, bool on_transfer_queue = false, uint32_t max_timestamps = 0);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Records a dispatch of `groups` workgroups. Asserts the push-constant size matches the pipeline
  // and the workgroup counts are within the device's limits.
  void dispatch(const Pipeline& p, const void* push, uint32_t push_size, uint32_t gx, uint32_t gy = 1,
                uint32_t gz = 1);
  template <typename Push>
  void dispatch(const Pipeline& p, const Push& push, uint32_t gx, uint32_t gy = 1, uint32_t gz = 1) {
    dispatch(p, &push, sizeof(Push), gx, gy, gz);
  }

  void copy(const View& src, const View& dst, uint64_t n);
  void fill(const View& dst, uint32_t value);  // dst.size must be a multiple of 4
  // Makes every earlier shader/transfer write visible to later shader and transfer reads/writes.
  void barrier();
  // Makes earlier shader/transfer writes visible to the host (before reading mapped memory).
  void host_barrier();
  // Records a GPU timestamp; read with timestamps_ns() after the submission completed.
  void timestamp();

  // Ends recording and submits; returns the timeline value that marks completion. The recorder
  // can record again after submit() (a fresh command buffer).
  uint64_t submit(uint64_t wait_value = 0);
  void submit_and_wait();
  std::vector<double> timestamps_ns() const;

  const Counters& counters() const { return counters_; }
  VkCommandBuffer command_buffer() const { return cb_; }

 private:
  void begin();
  bool on_transfer_only_queue() const;
  Context& ctx_;
  const Queue& queue_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cb_ = VK_NULL_HANDLE;
  VkQueryPool queries_ = VK_NULL_HANDLE;
  uint32_t max_timestamps_ = 0, n_timestamps_ = 0;
  bool recording_ = false;
  uint64_t last_submit_ = 0;
  Counters counters_;
};

}  // namespace moevk::vk
