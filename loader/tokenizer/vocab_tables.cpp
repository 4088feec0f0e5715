#include "loader/tokenizer/vocab_tables.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "loader/error.h"

namespace moevk {

// ---- TextTable ----

uint32_t TextTable::hash_of(std::string_view text) {
  // Eight bytes at a time, each step a multiply and an xor-shift (token texts are short).
  uint64_t h = 0x9E3779B97F4A7C15ull ^ text.size();
  const auto mix = [&](uint64_t w) {
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  };
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, text.data() + i, 8);
    mix(w);
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < text.size(); ++k)
    tail |= uint64_t{static_cast<uint8_t>(text[i + k])} << (8 * k);
  mix(tail);
  return static_cast<uint32_t>((h * 0x94D049BB133111EBull) >> 32);
}

void TextTable::reserve(size_t n_texts, size_t n_bytes) {
  bytes_.reserve(n_bytes);
  offsets_.reserve(n_texts + 1);
  const size_t want = std::bit_ceil(std::max<size_t>(16, 2 * n_texts));
  if (want > slots_.size()) rehash(want);
}

size_t TextTable::probe(std::string_view text, uint32_t hash) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.id < 0) return i;
    if (s.hash == hash && std::string_view(bytes_.data() + s.offset, s.size) == text) return i;
  }
}

int32_t TextTable::add(std::string_view text) {
  if (text.size() > UINT32_MAX - bytes_.size())
    fail("tokenizer texts (tokenizer.ggml.tokens, merges) over 4 GiB in all, at text {}", size());
  const uint32_t hash = hash_of(text);
  const int32_t id = size();
  const auto offset = static_cast<uint32_t>(bytes_.size());
  bytes_.append(text);
  offsets_.push_back(static_cast<uint32_t>(bytes_.size()));
  // size() bounds the number of occupied slots (equal texts share one).
  if (2 * static_cast<size_t>(size()) > slots_.size())
    rehash(std::max<size_t>(16, 2 * slots_.size()));
  const auto n = static_cast<uint32_t>(text.size());
  // (*this)[id], not `text`: that may have pointed into bytes_ before the append.
  slots_[probe((*this)[id], hash)] = {hash, id, offset, n};
  return id;
}

int32_t TextTable::find(std::string_view text) const {
  if (slots_.empty()) return -1;
  return slots_[probe(text, hash_of(text))].id;
}

void TextTable::find(std::span<const std::string_view> texts, std::span<int32_t> ids) const {
  if (slots_.empty()) {
    std::fill(ids.begin(), ids.end(), -1);
    return;
  }
  // Pipelined: while text i is looked up, the slot of text i + kAhead and the stored text that
  // the (by then fetched) slot of text i + kAhead / 2 points to are fetched.
  constexpr size_t kAhead = 8;
  const size_t n = texts.size(), mask = slots_.size() - 1;
  uint32_t hashes[kAhead];  // hashes[j % kAhead]: the hash of texts[j], for j in [i, i + kAhead)
  for (size_t j = 0; j < std::min(n, kAhead); ++j) {
    hashes[j] = hash_of(texts[j]);
    __builtin_prefetch(&slots_[hashes[j] & mask]);
  }
  for (size_t i = 0; i < n; ++i) {
    const uint32_t hash = hashes[i % kAhead];
    if (i + kAhead / 2 < n) {
      const Slot& s = slots_[hashes[(i + kAhead / 2) % kAhead] & mask];
      if (s.id >= 0) __builtin_prefetch(bytes_.data() + s.offset);
    }
    if (i + kAhead < n) {
      hashes[i % kAhead] = hash_of(texts[i + kAhead]);
      __builtin_prefetch(&slots_[hashes[i % kAhead] & mask]);
    }
    ids[i] = slots_[probe(texts[i], hash)].id;
  }
}

void TextTable::rehash(size_t n_slots) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(n_slots, Slot{0, -1, 0, 0});
  const size_t mask = n_slots - 1;
  for (const Slot& s : old) {
    if (s.id < 0) continue;
    size_t i = s.hash & mask;
    while (slots_[i].id >= 0) i = (i + 1) & mask;  // the old slots hold distinct texts
    slots_[i] = s;
  }
}

// ---- PairTable ----

size_t PairTable::home(int32_t left, int32_t right) const {
  const uint64_t key = (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
  return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);  // Fibonacci hashing
}

void PairTable::reserve(size_t n_pairs) {
  const size_t want = std::bit_ceil(std::max<size_t>(16, 2 * n_pairs));
  if (want > slots_.size()) rehash(want);
}

void PairTable::insert(const Entry& e) {
  if (2 * (size_ + 1) > slots_.size()) rehash(std::max<size_t>(16, 2 * slots_.size()));
  const size_t mask = slots_.size() - 1;
  for (size_t i = home(e.left, e.right);; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.value < 0) {
      s = e;
      ++size_;
      return;
    }
    if (s.left == e.left && s.right == e.right) return;  // the first value stays
  }
}

void PairTable::insert(std::span<const Entry> entries) {
  reserve(size_ + entries.size());
  constexpr size_t kAhead = 8;  // the slot of entry i + kAhead is fetched while entry i goes in
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i + kAhead < entries.size()) {
      const Entry& e = entries[i + kAhead];
      __builtin_prefetch(&slots_[home(e.left, e.right)]);
    }
    insert(entries[i]);
  }
}

int32_t PairTable::find(int32_t left, int32_t right) const {
  if (slots_.empty()) return -1;
  const size_t mask = slots_.size() - 1;
  for (size_t i = home(left, right);; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.value < 0) return -1;
    if (s.left == left && s.right == right) return s.value;
  }
}

void PairTable::rehash(size_t n_slots) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(n_slots, Slot{0, 0, -1});
  shift_ = 64 - std::countr_zero(n_slots);
  const size_t mask = n_slots - 1;
  for (const Slot& s : old) {
    if (s.value < 0) continue;
    size_t i = home(s.left, s.right);
    while (slots_[i].value >= 0) i = (i + 1) & mask;  // the old slots hold distinct pairs
    slots_[i] = s;
  }
}

}  // namespace moevk
