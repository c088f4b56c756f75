// Open-addressing hash map from u64 keys (already hashes, but possibly small in tests, so they are mixed) to V,
// with linear probing and backward-shift deletion: no tombstones, no per-entry allocation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace kvasir {

template <class V>
class U64Map {
 public:
  struct Slot {
    uint64_t key = 0;
    bool used = false;  // beside the key, so a probe touches one cache line
    V value;
  };

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return slots_.size(); }

  V* find(uint64_t key) {
    if (size_ == 0) return nullptr;
    for (size_t i = home(key);; i = (i + 1) & mask_) {
      if (!slots_[i].used) return nullptr;
      if (slots_[i].key == key) return &slots_[i].value;
    }
  }
  const V* find(uint64_t key) const { return const_cast<U64Map*>(this)->find(key); }
  bool contains(uint64_t key) const { return find(key) != nullptr; }

  // The value for key, default-constructed when missing; `inserted` tells which.
  V& emplace(uint64_t key, bool* inserted = nullptr) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    size_t i = home(key);
    for (; slots_[i].used; i = (i + 1) & mask_) {
      if (slots_[i].key == key) {
        if (inserted) *inserted = false;
        return slots_[i].value;
      }
    }
    slots_[i].used = true;
    slots_[i].key = key;
    slots_[i].value = V();
    size_++;
    if (inserted) *inserted = true;
    return slots_[i].value;
  }

  bool erase(uint64_t key) {
    if (size_ == 0) return false;
    size_t i = home(key);
    for (;; i = (i + 1) & mask_) {
      if (!slots_[i].used) return false;
      if (slots_[i].key == key) break;
    }
    // Backward-shift: pull later entries of the probe run into the hole when their home allows it.
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; slots_[j].used; j = (j + 1) & mask_) {
      const size_t h = home(slots_[j].key);
      const bool movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j);
      if (movable) {
        slots_[hole] = std::move(slots_[j]);
        hole = j;
      }
    }
    slots_[hole].used = false;
    slots_[hole].value = V();
    size_--;
    return true;
  }

  void clear() {
    slots_.clear();
    size_ = 0;
    mask_ = 0;
  }

  template <class F>
  void for_each(F&& f) {
    for (size_t i = 0; i < slots_.size(); i++)
      if (slots_[i].used) f(slots_[i].key, slots_[i].value);
  }
  template <class F>
  void for_each(F&& f) const {
    for (size_t i = 0; i < slots_.size(); i++)
      if (slots_[i].used) f(slots_[i].key, slots_[i].value);
  }

 private:
  size_t home(uint64_t key) const {
    uint64_t x = key * 0x9E3779B97F4A7C15ULL;
    x ^= x >> 29;
    return static_cast<size_t>(x) & mask_;
  }

  void grow() {
    const size_t cap = slots_.empty() ? 8 : slots_.size() * 2;
    std::vector<Slot> old = std::move(slots_);
    slots_ = std::vector<Slot>(cap);
    mask_ = cap - 1;
    size_ = 0;
    for (size_t i = 0; i < old.size(); i++) {
      if (!old[i].used) continue;
      size_t j = home(old[i].key);
      while (slots_[j].used) j = (j + 1) & mask_;
      slots_[j] = std::move(old[i]);
      size_++;
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
  size_t mask_ = 0;
};

}  // namespace kvasir
