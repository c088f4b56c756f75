// The positional index's one table: open addressing keyed by a block's sequence hash, each slot one 64-byte,
// cache-line-aligned BlockEntry holding the whole block (parent link, child count, holders), so applying an event
// touches the block's line and its parent's line and little else. Only a rehash (in reserve) moves entries.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "holder_set.h"

namespace kvasir {

struct alignas(64) BlockEntry {
  static constexpr uint32_t kInlineSlots = 3;
  static constexpr uint32_t kSpillBase = kInlineSlots + 1;
  uint64_t seq;
  uint64_t local;
  uint64_t parent_seq;  // meaningful when depth1 > 1
  uint32_t depth1;      // position + 1
  uint32_t children;    // live blocks whose parent this is
  uint32_t n_holds;     // slots that hold the block
  // Up to kInlineSlots: that many slots, in `slots`; from kSpillBase on, all slots are in the holder set
  // number slots_at - kSpillBase.
  uint32_t slots_at;
  HolderSlot slots[kInlineSlots];

  bool has_parent() const { return depth1 > 1; }
  uint32_t depth() const { return depth1 - 1; }
};
static_assert(sizeof(BlockEntry) == 64, "a block entry is one cache line");

class BlockTable {
 public:
  size_t size() const { return size_; }
  size_t capacity() const { return entries_.size(); }
  // Bytes of the table itself (entries and control bytes), for memory stats.
  size_t bytes() const { return entries_.size() * sizeof(BlockEntry) + ctrl_.size(); }

  BlockEntry* find(uint64_t seq) {
    if (size_ == 0) return nullptr;
    const uint64_t h = mix(seq);
    const uint64_t t = tag(h) * kLsbs;
    for (size_t pos = home(h);; pos = (pos + kGroup) & mask_) {
      const uint64_t g = group(pos);
      for (uint64_t m = match(g, t); m != 0; m &= m - 1) {
        BlockEntry& e = entries_[(pos + (__builtin_ctzll(m) >> 3)) & mask_];
        if (e.seq == seq) return &e;
      }
      if (empties(g) != 0) return nullptr;
    }
  }
  const BlockEntry* find(uint64_t seq) const { return const_cast<BlockTable*>(this)->find(seq); }

  // Makes room for `extra` inserts without rehashing, so entries do not move during them.
  void reserve(size_t extra) {
    if ((used_ + extra) * kMaxLoadDen > entries_.size() * kMaxLoadNum) rehash(extra);
  }

  // The entry for seq; a new one (zeroed but for seq, with `inserted` set) when missing. Call reserve first.
  BlockEntry* insert(uint64_t seq, bool* inserted) {
    const uint64_t h = mix(seq);
    const uint8_t t8 = tag(h);
    const uint64_t t = t8 * kLsbs;
    size_t free_slot = SIZE_MAX;  // the first empty or tombstone slot on the way, filled when seq is absent
    for (size_t pos = home(h);; pos = (pos + kGroup) & mask_) {
      const uint64_t g = group(pos);
      for (uint64_t m = match(g, t); m != 0; m &= m - 1) {
        BlockEntry& e = entries_[(pos + (__builtin_ctzll(m) >> 3)) & mask_];
        if (e.seq == seq) {
          *inserted = false;
          return &e;
        }
      }
      if (free_slot == SIZE_MAX) {
        const uint64_t f = g & kMsbs;  // empty or tombstone
        if (f != 0) free_slot = (pos + (__builtin_ctzll(f) >> 3)) & mask_;
      }
      if (empties(g) != 0) break;
    }
    if (ctrl_[free_slot] == kEmpty) used_++;
    set_ctrl(free_slot, t8);
    BlockEntry& e = entries_[free_slot];
    e = BlockEntry{};
    e.seq = seq;
    size_++;
    *inserted = true;
    return &e;
  }

  void prefetch(uint64_t seq) const {
    if (size_ != 0) __builtin_prefetch(&entries_[home(mix(seq))]);
  }

  // Removes e (which must be in this table). No other entry moves.
  void erase(BlockEntry* e) {
    const size_t i = static_cast<size_t>(e - entries_.data());
    e->depth1 = 0;
    size_--;
    // A slot followed by an empty one ends every probe run through it, so it can be empty again itself.
    if (ctrl_[(i + 1) & mask_] == kEmpty) {
      set_ctrl(i, kEmpty);
      used_--;
    } else {
      set_ctrl(i, kDeleted);
    }
  }

  // Empties the table and returns its memory.
  void clear() {
    std::vector<BlockEntry>().swap(entries_);
    std::vector<uint8_t>().swap(ctrl_);
    size_ = 0;
    used_ = 0;
    mask_ = 0;
    shift_ = 64;
  }

  template <class F>
  void for_each(F&& f) {
    for (size_t i = 0; i < entries_.size(); i++)
      if (ctrl_[i] < kEmpty) f(entries_[i]);
  }
  template <class F>
  void for_each(F&& f) const {
    for (size_t i = 0; i < entries_.size(); i++)
      if (ctrl_[i] < kEmpty) f(entries_[i]);
  }

 private:
  // One control byte per slot (SwissTable's idea, probed linearly eight at a time): a 7-bit tag of the hash, or
  // empty, or a tombstone. Probing reads the small, cache-resident control array; the 64-byte entry is read only
  // on a tag match, so a find costs about one entry line, and an erase moves nothing. The control array carries a
  // copy of its first kGroup bytes at the end, so a group read near the end needs no wrap-around.
  static constexpr uint8_t kEmpty = 0x80;
  static constexpr uint8_t kDeleted = 0xFE;
  static constexpr size_t kGroup = 8;
  static constexpr uint64_t kLsbs = 0x0101010101010101ULL;
  static constexpr uint64_t kMsbs = 0x8080808080808080ULL;

  uint64_t group(size_t pos) const {
    uint64_t g;
    __builtin_memcpy(&g, &ctrl_[pos], sizeof g);
    return g;
  }
  // High bit of each byte equal to the tag byte (rare false positives above a true one; the key is checked).
  static uint64_t match(uint64_t g, uint64_t t) {
    const uint64_t x = g ^ t;
    return (x - kLsbs) & ~x & kMsbs;
  }
  // High bit of each empty byte: 0x80 has bit 1 clear, a tombstone (0xFE) has it set, a tag has bit 7 clear.
  static uint64_t empties(uint64_t g) { return g & ~(g << 6) & kMsbs; }
  void set_ctrl(size_t i, uint8_t c) {
    ctrl_[i] = c;
    if (i < kGroup) ctrl_[entries_.size() + i] = c;
  }
  // Live entries plus tombstones stay under 7/8 of the slots; a rehash leaves at most half of them live.
  static constexpr size_t kMaxLoadNum = 3;
  static constexpr size_t kMaxLoadDen = 4;

  static uint64_t mix(uint64_t seq) { return seq * 0x9E3779B97F4A7C15ULL; }
  // Fibonacci hashing: the top bits pick the slot (small keys in tests spread too), the low 7 bits the tag.
  size_t home(uint64_t h) const { return static_cast<size_t>(h >> shift_); }
  static uint8_t tag(uint64_t h) { return static_cast<uint8_t>((h >> 7) & 0x7F); }

  void rehash(size_t extra) {
    size_t cap = entries_.empty() ? 64 : entries_.size();
    while ((size_ + extra) * 8 > cap * 3) cap *= 2;
    std::vector<BlockEntry> old_entries(cap);
    std::vector<uint8_t> old_ctrl(cap + kGroup, kEmpty);
    old_entries.swap(entries_);
    old_ctrl.swap(ctrl_);
    mask_ = cap - 1;
    shift_ = 64;
    for (size_t c = cap; c > 1; c >>= 1) shift_--;
    used_ = size_;
    for (size_t k = 0; k < old_entries.size(); k++) {
      if (old_ctrl[k] >= kEmpty) continue;
      const uint64_t h = mix(old_entries[k].seq);
      size_t j = home(h);
      while (ctrl_[j] != kEmpty) j = (j + 1) & mask_;
      set_ctrl(j, tag(h));
      entries_[j] = old_entries[k];
    }
  }

  std::vector<BlockEntry> entries_;
  std::vector<uint8_t> ctrl_;
  size_t size_ = 0;  // live entries
  size_t used_ = 0;  // live entries and tombstones
  size_t mask_ = 0;
  unsigned shift_ = 64;
};

}  // namespace kvasir
