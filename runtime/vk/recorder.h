// Recorder: records one command buffer of dispatches, copies and barriers, submits it on the timeline.
// It is the only place that emits barriers. It counts what decides speed on a GPU: dispatches,
// barriers and submissions (host-device round trips).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <vulkan/vulkan.h>

#include "runtime/vk/buffer.h"
#include "runtime/vk/context.h"

namespace moevk::vk {

class Pipeline;

// GPU time by op (`--profile`): the interval between the timestamps written before and after each
// dispatch, summed per pipeline variant (op and type), with the bytes its caller said it reads.
struct OpProfile {
  uint64_t dispatches = 0;
  double ns = 0;
  uint64_t bytes = 0;  // weight bytes read, where the op annotated them (0: not annotated)
};
using Profile = std::map<std::string, OpProfile>;

struct Counters {
  uint64_t dispatches = 0;
  uint64_t barriers = 0;
  uint64_t copies = 0;
  uint64_t submits = 0;
};

class Recorder {
 public:
  // ring: command buffers recorded in turn, so recording the next batch never waits for the
  // previous one to finish (only for the one `ring` submissions back).
  explicit Recorder(Context& ctx, bool on_transfer_queue = false, uint32_t max_timestamps = 0,
                    uint32_t ring = 2);
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
  // Writes n bytes (a multiple of 4, at most 65536) from host memory into dst, in command order.
  void update(const View& dst, const void* data, uint64_t n);
  void fill(const View& dst, uint32_t value);  // dst.size must be a multiple of 4
  // Makes every earlier shader/transfer write visible to later shader and transfer reads/writes.
  void barrier();
  // Makes earlier shader/transfer writes visible to the host (before reading mapped memory).
  void host_barrier();
  // Records a GPU timestamp; read with timestamps_ns() after the submission completed.
  void timestamp();
  // Profiling: while set, every dispatch is bracketed by timestamps (the recorder needs
  // max_timestamps >= 2 x dispatches per command buffer; later ones go unmeasured) and the results
  // are added to *p once each command buffer has run. annotate_bytes(n): the next dispatch reads
  // n bytes of weights.
  void set_profile(Profile* p) { profile_ = p; }
  void annotate_bytes(uint64_t n) { pending_bytes_ = n; }

  // Ends recording and submits after the GPU is past every point of `waits` (on either queue);
  // returns the point that marks completion. The recorder can record again after submit() (the
  // next command buffer of its ring).
  TimelinePoint submit(const std::vector<TimelinePoint>& waits = {});
  void submit_and_wait(const std::vector<TimelinePoint>& waits = {});
  bool recording() const { return recording_; }
  std::vector<double> timestamps_ns() const;

  const Counters& counters() const { return counters_; }
  VkCommandBuffer command_buffer() const { return ring_[cur_].cb; }

 private:
  struct Slot {
    VkCommandBuffer cb = VK_NULL_HANDLE;
    VkQueryPool queries = VK_NULL_HANDLE;
    uint32_t n_timestamps = 0;
    TimelinePoint last_submit;
    // Profiling: per measured dispatch, its pipeline name, bytes and its two timestamp indices.
    struct Measured {
      std::string name;
      uint64_t bytes;
      uint32_t before, after;
    };
    std::vector<Measured> measured;
  };
  void harvest(Slot& sl);  // adds a completed slot's measured dispatches to profile_
  void begin();
  bool on_transfer_only_queue() const;
  Context& ctx_;
  const Queue& queue_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  std::vector<Slot> ring_;
  uint32_t cur_ = 0;   // the slot being recorded (or last submitted)
  VkCommandBuffer cb_ = VK_NULL_HANDLE;  // ring_[cur_].cb while recording
  uint32_t max_timestamps_ = 0;
  bool recording_ = false;
  Counters counters_;
  Profile* profile_ = nullptr;
  uint64_t pending_bytes_ = 0;
};

}  // namespace moevk::vk
