// The holder slots of a block held by more (worker, dp rank) pairs than its entry keeps inline: a small
// open-addressing set keyed by worker slot (linear probing, backward-shift deletion), so holding or releasing a
// block that hundreds of workers hold costs one probe rather than a scan of all its holders.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvasir {

// One (worker, dp rank) slot's relation to a block: bit 0 = holds it; bits 1.. = how many of the block's children
// it holds. A slot exists while either is non-zero, which keeps the "holes" bookkeeping (jump search) inside the
// parent's entry instead of a per-worker map.
struct HolderSlot {
  uint32_t worker;
  uint32_t state;
  bool holds() const { return (state & 1U) != 0; }
  uint32_t held_children() const { return state >> 1; }
};

class HolderSet {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;  // worker value of an empty cell

  uint32_t size() const { return size_; }

  HolderSlot* find(uint32_t worker) {
    if (cells_.empty()) return nullptr;
    for (size_t i = home(worker);; i = (i + 1) & mask_) {
      if (cells_[i].worker == worker) return &cells_[i];
      if (cells_[i].worker == kNone) return nullptr;
    }
  }

  // Adds a slot (state 0) for a worker that has none; the pointer is valid until the next add or erase.
  HolderSlot* add(uint32_t worker) {
    if ((size_ + 1) * 2 > cells_.size()) grow();
    size_t i = home(worker);
    while (cells_[i].worker != kNone) i = (i + 1) & mask_;
    cells_[i] = HolderSlot{worker, 0};
    size_++;
    return &cells_[i];
  }

  void erase(HolderSlot* s) {
    size_t hole = static_cast<size_t>(s - cells_.data());
    for (size_t j = (hole + 1) & mask_; cells_[j].worker != kNone; j = (j + 1) & mask_) {
      const size_t h = home(cells_[j].worker);
      const bool movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j);
      if (movable) {
        cells_[hole] = cells_[j];
        hole = j;
      }
    }
    cells_[hole].worker = kNone;
    size_--;
  }

  void clear() {
    cells_.clear();
    size_ = 0;
    mask_ = 0;
  }

  template <class F>
  void for_each(F&& f) const {
    for (const HolderSlot& c : cells_)
      if (c.worker != kNone) f(c);
  }

  // Keeps the slots for which keep(slot) is true.
  template <class F>
  void filter(F&& keep) {
    std::vector<HolderSlot> kept;
    kept.reserve(size_);
    for_each([&](const HolderSlot& c) {
      if (keep(c)) kept.push_back(c);
    });
    clear();
    for (const HolderSlot& c : kept) *add(c.worker) = c;
  }

  size_t bytes() const { return cells_.capacity() * sizeof(HolderSlot); }

 private:
  size_t home(uint32_t worker) const { return static_cast<size_t>((worker * 0x9E3779B1U) >> 8) & mask_; }

  void grow() {
    std::vector<HolderSlot> old(cells_.empty() ? 16 : cells_.size() * 2, HolderSlot{kNone, 0});
    old.swap(cells_);
    mask_ = cells_.size() - 1;
    for (const HolderSlot& c : old) {
      if (c.worker == kNone) continue;
      size_t i = home(c.worker);
      while (cells_[i].worker != kNone) i = (i + 1) & mask_;
      cells_[i] = c;
    }
  }

  std::vector<HolderSlot> cells_;
  uint32_t size_ = 0;
  size_t mask_ = 0;
};

}  // namespace kvasir
