#include "runtime/vk/recorder.h"

#include "runtime/vk/check.h"
#include "runtime/vk/pipeline.h"

namespace moevk::vk {

Recorder::Recorder(Context& ctx, bool on_transfer_queue, uint32_t max_timestamps, uint32_t ring)
    : ctx_(ctx),
      queue_(on_transfer_queue ? ctx.transfer_queue() : ctx.compute_queue()),
      max_timestamps_(ctx.features().timestamps ? max_timestamps : 0) {
  MOEVK_ASSERT(ring >= 1, "a recorder needs at least one command buffer");
  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = queue_.family;
  MOEVK_VK_CHECK(vkCreateCommandPool(ctx.device(), &pci, nullptr, &pool_));
  ring_.resize(ring);
  std::vector<VkCommandBuffer> cbs(ring);
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = ring;
  MOEVK_VK_CHECK(vkAllocateCommandBuffers(ctx.device(), &ai, cbs.data()));
  for (uint32_t i = 0; i < ring; ++i) {
    ring_[i].cb = cbs[i];
    if (max_timestamps_) {
      VkQueryPoolCreateInfo qci{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
      qci.queryType = VK_QUERY_TYPE_TIMESTAMP;
      qci.queryCount = max_timestamps_;
      MOEVK_VK_CHECK(vkCreateQueryPool(ctx.device(), &qci, nullptr, &ring_[i].queries));
    }
  }
  cur_ = ring - 1;  // the first begin() moves to slot 0
}

Recorder::~Recorder() {
  // Command buffers may still execute: destroy the pool once the GPU is past their submissions.
  VkDevice dev = ctx_.device();
  VkCommandPool pool = pool_;
  std::vector<VkQueryPool> queries;
  TimelinePoint last;
  for (const Slot& sl : ring_) {
    if (sl.queries) queries.push_back(sl.queries);
    if (sl.last_submit.value > last.value) last = sl.last_submit;
  }
  auto destroy = [dev, pool, queries]() {
    for (VkQueryPool q : queries) vkDestroyQueryPool(dev, q, nullptr);
    vkDestroyCommandPool(dev, pool, nullptr);
  };
  if (recording_) vkEndCommandBuffer(cb_);
  if (!ctx_.done(last)) ctx_.defer(last, destroy);
  else destroy();
}

void Recorder::begin() {
  if (recording_) return;
  cur_ = (cur_ + 1) % ring_.size();
  Slot& sl = ring_[cur_];
  cb_ = sl.cb;
  if (sl.last_submit) {
    ctx_.wait(sl.last_submit);  // this command buffer is reused: its previous run must be done
    harvest(sl);
    MOEVK_VK_CHECK(vkResetCommandBuffer(cb_, 0));
  }
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  MOEVK_VK_CHECK(vkBeginCommandBuffer(cb_, &bi));
  if (sl.queries) vkCmdResetQueryPool(cb_, sl.queries, 0, max_timestamps_);
  sl.n_timestamps = 0;
  recording_ = true;
}

void Recorder::dispatch(const Pipeline& p, const void* push, uint32_t push_size, uint32_t gx,
                        uint32_t gy, uint32_t gz) {
  const Features& f = ctx_.features();
  MOEVK_ASSERT(push_size == p.push_size(), "push-constant size mismatch for " + p.name());
  MOEVK_ASSERT(gx >= 1 && gy >= 1 && gz >= 1, "empty dispatch of " + p.name());
  MOEVK_ASSERT(gx <= f.max_workgroup_count[0] && gy <= f.max_workgroup_count[1] &&
                   gz <= f.max_workgroup_count[2],
               fmt::format("workgroup count {}x{}x{} over the device limit for {}", gx, gy, gz, p.name()));
  begin();
  Slot& sl = ring_[cur_];
  const bool measure = profile_ && sl.queries && sl.n_timestamps + 2 <= max_timestamps_;
  if (measure) {
    sl.measured.push_back({p.name(), pending_bytes_, sl.n_timestamps, sl.n_timestamps + 1});
    vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, sl.queries, sl.n_timestamps++);
  }
  pending_bytes_ = 0;
  vkCmdBindPipeline(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, p.handle());
  if (push_size)
    vkCmdPushConstants(cb_, p.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
  vkCmdDispatch(cb_, gx, gy, gz);
  if (measure) vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, sl.queries, sl.n_timestamps++);
  ++counters_.dispatches;
}

void Recorder::harvest(Slot& sl) {
  if (sl.measured.empty()) return;
  if (profile_) {
    std::vector<uint64_t> raw(sl.n_timestamps);
    MOEVK_VK_CHECK(vkGetQueryPoolResults(ctx_.device(), sl.queries, 0, sl.n_timestamps, raw.size() * 8,
                                         raw.data(), 8, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
    const double period = ctx_.features().timestamp_period_ns;
    for (const Slot::Measured& m : sl.measured) {
      OpProfile& op = (*profile_)[m.name];
      ++op.dispatches;
      op.ns += raw[m.after] >= raw[m.before] ? double(raw[m.after] - raw[m.before]) * period : 0.0;
      op.bytes += m.bytes;
    }
  }
  sl.measured.clear();
}

void Recorder::copy(const View& src, const View& dst, uint64_t n) {
  MOEVK_ASSERT(n <= src.size && n <= dst.size, "copy larger than its views");
  begin();
  VkBufferCopy region{src.offset, dst.offset, n};
  vkCmdCopyBuffer(cb_, src.buffer->handle(), dst.buffer->handle(), 1, &region);
  ++counters_.copies;
}

void Recorder::update(const View& dst, const void* data, uint64_t n) {
  MOEVK_ASSERT(n % 4 == 0 && dst.offset % 4 == 0 && n <= 65536 && n <= dst.size,
               "update needs a 4-byte aligned range of at most 64 KiB inside its view");
  if (n == 0) return;
  begin();
  vkCmdUpdateBuffer(cb_, dst.buffer->handle(), dst.offset, n, data);
  ++counters_.copies;
}

void Recorder::fill(const View& dst, uint32_t value) {
  MOEVK_ASSERT(dst.size % 4 == 0 && dst.offset % 4 == 0, "fill needs 4-byte aligned views");
  begin();
  vkCmdFillBuffer(cb_, dst.buffer->handle(), dst.offset, dst.size, value);
  ++counters_.copies;
}

// A transfer-only queue supports neither the compute stage nor shader accesses in its barriers
// (VUID-vkCmdPipelineBarrier-srcAccessMask-02815), so its barriers name transfers alone.
bool Recorder::on_transfer_only_queue() const {
  return &queue_ != &ctx_.compute_queue() && ctx_.has_transfer_queue();
}

void Recorder::barrier() {
  begin();
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  VkPipelineStageFlags stages = VK_PIPELINE_STAGE_TRANSFER_BIT;
  mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  if (!on_transfer_only_queue()) {
    stages |= VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    mb.srcAccessMask |= VK_ACCESS_SHADER_WRITE_BIT;
    mb.dstAccessMask |= VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  }
  vkCmdPipelineBarrier(cb_, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
  ++counters_.barriers;
}

void Recorder::host_barrier() {
  begin();
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  VkPipelineStageFlags src = VK_PIPELINE_STAGE_TRANSFER_BIT;
  mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  if (!on_transfer_only_queue()) {
    src |= VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    mb.srcAccessMask |= VK_ACCESS_SHADER_WRITE_BIT;
  }
  vkCmdPipelineBarrier(cb_, src, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
  ++counters_.barriers;
}

void Recorder::timestamp() {
  begin();
  Slot& sl = ring_[cur_];
  if (!sl.queries || sl.n_timestamps >= max_timestamps_) return;
  vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, sl.queries, sl.n_timestamps++);
}

TimelinePoint Recorder::submit(const std::vector<TimelinePoint>& waits) {
  begin();  // an empty submission is allowed (it still signals the timeline)
  MOEVK_VK_CHECK(vkEndCommandBuffer(cb_));
  recording_ = false;
  ring_[cur_].last_submit = ctx_.submit(queue_, cb_, waits);
  ++counters_.submits;
  return ring_[cur_].last_submit;
}

void Recorder::submit_and_wait(const std::vector<TimelinePoint>& waits) {
  ctx_.wait(submit(waits));
  harvest(ring_[cur_]);
}

std::vector<double> Recorder::timestamps_ns() const {
  std::vector<double> out;
  const Slot& sl = ring_[cur_];
  if (!sl.queries || sl.n_timestamps == 0) return out;
  std::vector<uint64_t> raw(sl.n_timestamps);
  MOEVK_VK_CHECK(vkGetQueryPoolResults(ctx_.device(), sl.queries, 0, sl.n_timestamps, raw.size() * 8,
                                       raw.data(), 8, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
  for (uint64_t t : raw) out.push_back(static_cast<double>(t) * ctx_.features().timestamp_period_ns);
  return out;
}

}  // namespace moevk::vk
