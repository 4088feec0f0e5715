// The flat open-addressing hash tables behind Vocab: token texts stored back to back with a
// text -> id index, and BPE merges keyed by the ids of their two sides. Each is a few large arrays
// rather than one allocation per token or merge, and the bulk operations overlap the cache misses
// of consecutive lookups, which keeps loading a 200k-token vocabulary with 450k merges in the tens
// of milliseconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moevk {

// Strings numbered 0, 1, 2, ... in the order they are added, with lookup by text.
class TextTable {
 public:
  void reserve(size_t n_texts, size_t n_bytes);
  // Appends `text` under the next id and returns that id. When an equal text is already present,
  // find() gives the new id from now on (a later duplicate wins, as in llama.cpp); both ids keep
  // their text. moevk::Error past 4 GiB of text in all.
  int32_t add(std::string_view text);
  int32_t size() const { return static_cast<int32_t>(offsets_.size() - 1); }
  // Requires 0 <= id < size().
  std::string_view operator[](int32_t id) const {
    return std::string_view(bytes_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  // -1 when absent.
  int32_t find(std::string_view text) const;
  // ids[i] = find(texts[i]) for each i; faster than one call per text for many texts.
  void find(std::span<const std::string_view> texts, std::span<int32_t> ids) const;

 private:
  struct Slot {
    uint32_t hash;          // the text's hash; its low bits pick the first slot to probe
    int32_t id;             // -1: empty
    uint32_t offset, size;  // the text in bytes_ (saves reading offsets_ when comparing)
  };
  static uint32_t hash_of(std::string_view text);
  // The slot holding `text`, or the empty slot where it would go.
  size_t probe(std::string_view text, uint32_t hash) const;
  void rehash(size_t n_slots);

  std::string bytes_;                    // every text, back to back
  std::vector<uint32_t> offsets_ = {0};  // text i is bytes_[offsets_[i], offsets_[i + 1])
  std::vector<Slot> slots_;              // a power of two in size, at most half full
};

// Pairs (left, right) of non-negative ids -> a non-negative value; the first value inserted for a
// pair stays.
class PairTable {
 public:
  struct Entry {
    int32_t left, right, value;
  };
  void reserve(size_t n_pairs);
  void insert(const Entry& e);
  // insert() for each entry in order; faster than one call per entry for many entries.
  void insert(std::span<const Entry> entries);
  // -1 when absent.
  int32_t find(int32_t left, int32_t right) const;

 private:
  using Slot = Entry;  // value -1: empty
  size_t home(int32_t left, int32_t right) const;
  void rehash(size_t n_slots);

  std::vector<Slot> slots_;  // a power of two in size, at most half full
  int shift_ = 64;           // 64 - log2(slots_.size())
  size_t size_ = 0;          // occupied slots
};

}  // namespace moevk
