// Buffers and views. A Buffer is one VkBuffer with its own VkDeviceMemory; an Arena hands out views
// {buffer, offset, size} of a few large buffers. Shaders address memory through 64-bit buffer device
// addresses (View::address), so no descriptor ranges apply.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <vulkan/vulkan.h>

namespace moevk::vk {

class Context;

enum class MemoryKind {
  Device,    // device-local (host-visible too on unified-memory devices)
  Staging,   // host-visible, coherent: uploads
  Readback,  // host-visible, cached where possible: downloads
  Host,      // host-visible memory the GPU reads in place over the bus (the expert host tier)
};

class Buffer {
 public:
  Buffer() = default;
  Buffer(Context& ctx, uint64_t size, MemoryKind kind, const std::string& what);
  ~Buffer();
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  VkBuffer handle() const { return buffer_; }
  uint64_t size() const { return size_; }
  uint64_t address() const { return address_; }
  void* mapped() const { return mapped_; }  // non-null for Staging/Readback
  MemoryKind kind() const { return kind_; }
  bool counted() const { return counted_; }  // counts as GPU memory (Context::memory())

 private:
  void release() noexcept;
  Context* ctx_ = nullptr;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  uint64_t size_ = 0;
  uint64_t address_ = 0;
  void* mapped_ = nullptr;
  MemoryKind kind_ = MemoryKind::Device;
  uint64_t counted_bytes_ = 0;
  bool counted_ = false;
};

// A range of a Buffer. Offsets and sizes are 64-bit everywhere.
struct View {
  const Buffer* buffer = nullptr;
  uint64_t offset = 0;
  uint64_t size = 0;

  uint64_t address() const { return buffer->address() + offset; }
  View sub(uint64_t off, uint64_t n) const;  // asserts it lies inside
  explicit operator bool() const { return buffer != nullptr; }
};

// Bump allocator over chunks no larger than the device's maxMemoryAllocationSize, packed by
// sched::Packer. Planned: the chunk sizes come from the memory plan (the same packing of the same
// allocations), each chunk is allocated when first used, and an allocation the plan did not
// foresee is an invariant failure. Unplanned (tests): every chunk is chunk_size bytes.
class Arena {
 public:
  Arena(Context& ctx, MemoryKind kind, uint64_t chunk_size, std::string name);
  Arena(Context& ctx, MemoryKind kind, std::vector<uint64_t> planned_chunks, uint64_t cap,
        std::string name);
  ~Arena();
  View alloc(uint64_t size, uint64_t align = 256);
  uint64_t used() const { return used_; }
  uint64_t reserved() const;

 private:
  Context& ctx_;
  MemoryKind kind_;
  uint64_t cap_;
  std::vector<uint64_t> planned_;  // empty: unplanned
  std::string name_;
  std::unique_ptr<struct ArenaPacker> packer_;
  std::vector<std::unique_ptr<Buffer>> chunks_;
  uint64_t used_ = 0;
};

// Synchronous copies between host memory and a device view through a staging buffer
// (for set-up and tests; the hot path records copies itself).
void upload(Context& ctx, const View& dst, const void* src, uint64_t n);
void download(Context& ctx, const View& src, void* dst, uint64_t n);

}  // namespace moevk::vk
