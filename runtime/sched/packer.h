// Packing allocations into chunks: the one rule that both the memory plan (sizing) and vk::Arena
// (allocating) follow, so the bytes the plan promises are the bytes the device allocates.
// Allocations go in order; one that does not fit the open chunk (of at most `cap` bytes) opens a
// new one; a chunk's size is what it holds, rounded up to kChunkGranule.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace moevk::sched {

constexpr uint64_t kChunkGranule = 64 * 1024;
constexpr uint64_t kAllocAlign = 256;

inline uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

class Packer {
 public:
  explicit Packer(uint64_t cap) : cap_(std::max(cap, kChunkGranule)) {}
  struct Place {
    uint32_t chunk;
    uint64_t offset;
  };
  // Where an allocation of `size` bytes goes (a size above the cap gets a chunk of its own).
  Place alloc(uint64_t size, uint64_t align = kAllocAlign) {
    size = std::max<uint64_t>(size, 4);
    uint64_t start = align_up(top_, align);
    if (tops_.empty() || start + size > cap_) {
      tops_.push_back(0);
      start = 0;
    }
    top_ = start + size;
    tops_.back() = top_;
    return {static_cast<uint32_t>(tops_.size() - 1), start};
  }
  std::vector<uint64_t> chunks() const {
    std::vector<uint64_t> out;
    for (uint64_t t : tops_) out.push_back(align_up(t, kChunkGranule));
    return out;
  }
  uint64_t total() const {
    uint64_t n = 0;
    for (uint64_t c : chunks()) n += c;
    return n;
  }

 private:
  uint64_t cap_;
  uint64_t top_ = 0;
  std::vector<uint64_t> tops_;
};

// Chunk sizes for a sequence of allocations.
inline std::vector<uint64_t> pack(const std::vector<uint64_t>& allocs, uint64_t cap) {
  Packer p(cap);
  for (uint64_t a : allocs) p.alloc(a);
  return p.chunks();
}

}  // namespace moevk::sched
