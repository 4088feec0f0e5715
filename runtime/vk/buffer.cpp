#include "runtime/vk/buffer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "runtime/sched/packer.h"
#include "runtime/vk/check.h"
#include "runtime/vk/context.h"
#include "runtime/vk/recorder.h"

namespace moevk::vk {

Buffer::Buffer(Context& ctx, uint64_t size, MemoryKind kind, const std::string& what)
    : ctx_(&ctx), size_(size), kind_(kind) {
  const Features& f = ctx.features();
  if (size == 0) fail("cannot allocate an empty buffer for {}", what);
  if (f.max_allocation && size > f.max_allocation)
    fail("{}: {} bytes exceed the device's maxMemoryAllocationSize ({} bytes)", what, size,
         f.max_allocation);
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = size;
  bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
              VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT;
  // With a dedicated transfer queue, buffers are shared by two queue families: concurrent sharing
  // keeps their contents valid across the families without ownership-transfer barriers.
  const uint32_t families[2] = {ctx.compute_queue().family, ctx.transfer_queue().family};
  if (ctx.has_transfer_queue() && families[0] != families[1]) {
    bci.sharingMode = VK_SHARING_MODE_CONCURRENT;
    bci.queueFamilyIndexCount = 2;
    bci.pQueueFamilyIndices = families;
  } else {
    bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  }
  MOEVK_VK_CHECK(vkCreateBuffer(ctx.device(), &bci, nullptr, &buffer_));
  VkMemoryRequirements req{};
  vkGetBufferMemoryRequirements(ctx.device(), buffer_, &req);
  VkMemoryPropertyFlags required = 0, preferred = 0;
  switch (kind) {
    case MemoryKind::Device: preferred = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT; break;
    case MemoryKind::Staging:
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      break;
    case MemoryKind::Readback:
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      preferred = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
      break;
    case MemoryKind::Host:
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      break;
  }
  VkMemoryAllocateFlagsInfo afi{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO};
  afi.flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT;
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.pNext = &afi;
  ai.allocationSize = req.size;
  try {
    uint32_t type_bits = req.memoryTypeBits;
    if (kind != MemoryKind::Device && !ctx.physically_unified()) {
      // Host memory stays out of VRAM (a discrete GPU's BAR heap is small and counts as VRAM).
      uint32_t host_bits = 0;
      for (uint32_t i = 0; i < 32; ++i)
        if ((type_bits & (1u << i)) && !ctx.device_local_type(i)) host_bits |= 1u << i;
      if (host_bits) type_bits = host_bits;
    }
    ai.memoryTypeIndex = ctx.memory_type(type_bits, required, preferred);
    counted_ = kind == MemoryKind::Device ||
               (!ctx.physically_unified() && ctx.device_local_type(ai.memoryTypeIndex));
    if (counted_) {
      ctx.count_allocation(req.size, what);
      counted_bytes_ = req.size;
    }
    VkResult r = vkAllocateMemory(ctx.device(), &ai, nullptr, &memory_);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
      fail("out of {} memory allocating {} bytes for {}", r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? "device" : "host",
           size, what);
    MOEVK_VK_CHECK(r);
    MOEVK_VK_CHECK(vkBindBufferMemory(ctx.device(), buffer_, memory_, 0));
    if (kind != MemoryKind::Device)
      MOEVK_VK_CHECK(vkMapMemory(ctx.device(), memory_, 0, VK_WHOLE_SIZE, 0, &mapped_));
  } catch (...) {
    release();
    throw;
  }
  VkBufferDeviceAddressInfo dai{VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO};
  dai.buffer = buffer_;
  address_ = vkGetBufferDeviceAddress(ctx.device(), &dai);
}

void Buffer::release() noexcept {
  if (!ctx_) return;
  if (buffer_) vkDestroyBuffer(ctx_->device(), buffer_, nullptr);
  if (memory_) vkFreeMemory(ctx_->device(), memory_, nullptr);
  if (counted_bytes_) ctx_->count_free(counted_bytes_);
  counted_bytes_ = 0;
  buffer_ = VK_NULL_HANDLE;
  memory_ = VK_NULL_HANDLE;
  mapped_ = nullptr;
}

Buffer::~Buffer() { release(); }

Buffer::Buffer(Buffer&& o) noexcept { *this = std::move(o); }

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    release();
    ctx_ = o.ctx_;
    buffer_ = std::exchange(o.buffer_, VK_NULL_HANDLE);
    memory_ = std::exchange(o.memory_, VK_NULL_HANDLE);
    size_ = o.size_;
    address_ = o.address_;
    mapped_ = std::exchange(o.mapped_, nullptr);
    kind_ = o.kind_;
    counted_bytes_ = std::exchange(o.counted_bytes_, 0);
    counted_ = o.counted_;
  }
  return *this;
}

View View::sub(uint64_t off, uint64_t n) const {
  MOEVK_ASSERT(off <= size && n <= size - off, "sub-view out of range");
  return View{buffer, offset + off, n};
}

struct ArenaPacker : sched::Packer {
  using sched::Packer::Packer;
};

Arena::Arena(Context& ctx, MemoryKind kind, uint64_t chunk_size, std::string name)
    : ctx_(ctx), kind_(kind), name_(std::move(name)) {
  const uint64_t cap = ctx.features().max_allocation ? ctx.features().max_allocation : chunk_size;
  cap_ = std::min(chunk_size, cap);
  packer_ = std::make_unique<ArenaPacker>(cap_);
}

Arena::Arena(Context& ctx, MemoryKind kind, std::vector<uint64_t> planned_chunks, uint64_t cap,
             std::string name)
    : ctx_(ctx), kind_(kind), cap_(cap), planned_(std::move(planned_chunks)), name_(std::move(name)) {
  packer_ = std::make_unique<ArenaPacker>(cap_);
}

Arena::~Arena() = default;

View Arena::alloc(uint64_t size, uint64_t align) {
  MOEVK_ASSERT(align && (align & (align - 1)) == 0, "alignment must be a power of two");
  size = std::max<uint64_t>(size, 4);
  const sched::Packer::Place at = packer_->alloc(size, align);
  while (chunks_.size() <= at.chunk) {
    uint64_t n = std::max(size, cap_);
    if (!planned_.empty()) {
      MOEVK_ASSERT(chunks_.size() < planned_.size(),
                   fmt::format("{}: more chunks than the memory plan has", name_));
      n = planned_[chunks_.size()];
    }
    chunks_.push_back(std::make_unique<Buffer>(ctx_, n, kind_, name_));
  }
  MOEVK_ASSERT(at.offset + size <= chunks_[at.chunk]->size(),
               fmt::format("{}: an allocation outside its planned chunk", name_));
  used_ += size;
  return View{chunks_[at.chunk].get(), at.offset, size};
}

uint64_t Arena::reserved() const {
  uint64_t n = 0;
  for (auto& c : chunks_) n += c->size();
  return n;
}

void upload(Context& ctx, const View& dst, const void* src, uint64_t n) {
  MOEVK_ASSERT(n <= dst.size, "upload larger than its view");
  if (n == 0) return;
  Buffer staging(ctx, n, MemoryKind::Staging, "upload staging");
  std::memcpy(staging.mapped(), src, n);
  Recorder rec(ctx);
  rec.copy(View{&staging, 0, n}, dst, n);
  rec.barrier();
  rec.submit_and_wait();
}

void download(Context& ctx, const View& src, void* dst, uint64_t n) {
  MOEVK_ASSERT(n <= src.size, "download larger than its view");
  if (n == 0) return;
  Buffer rb(ctx, n, MemoryKind::Readback, "download readback");
  Recorder rec(ctx);
  rec.barrier();
  rec.copy(src, View{&rb, 0, n}, n);
  rec.host_barrier();
  rec.submit_and_wait();
  std::memcpy(dst, rb.mapped(), n);
}

}  // namespace moevk::vk
