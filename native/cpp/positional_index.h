// The positional KV index (after Dynamo's Flash Indexer, laid out for cache lines): one open-addressing table keyed
// by sequence hash whose 64-byte entry holds the whole block inline (position, local hash, parent link, child count,
// holder slots). Applying an event touches about two cache lines per block: the block's and its parent's. Not
// thread-safe by itself: ConcurrentIndexer adds locking.
//
// Semantics match the TypeScript radix reference (packages/kv/src/indexer/radix.ts) exactly: a block lives
// while a worker holds it or a live block hangs from it; a Stored event whose parent is not live is dropped;
// matches count a worker's blocks from position 0 until its first missing block. Like the reference's by-seq map,
// it takes a sequence hash to name one prefix (the hash of its parent's and its own local hash).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "block_table.h"
#include "u64_map.h"

namespace kvasir {

using WorkerSlot = uint32_t;

struct BlockRef {
  uint64_t local;
  uint64_t seq;
};

struct Match {
  WorkerSlot slot;
  uint32_t depth;
};

struct MemoryStats {
  uint64_t positions = 0;
  uint64_t entries = 0;
  uint64_t blocks = 0;
  uint64_t collision_entries = 0;
  uint64_t workers = 0;
  uint64_t held_blocks = 0;
  uint64_t approx_bytes = 0;
};

struct Counters {
  uint64_t unknown_parent = 0;
};

class PositionalIndex {
 public:
  explicit PositionalIndex(uint32_t jump_size = 64) : jump_(jump_size < 1 ? 1 : jump_size) {}

  void store(uint64_t worker_id, uint32_t dp_rank, bool has_parent, uint64_t parent_seq, const BlockRef* blocks,
             size_t n);
  void remove(uint64_t worker_id, uint32_t dp_rank, const uint64_t* seqs, size_t n);
  void clear_worker(uint64_t worker_id, uint32_t dp_rank);
  void remove_worker(uint64_t worker_id);
  void clear();
  void set_watermark(uint64_t worker_id, uint64_t event_id) { watermarks_.emplace(worker_id) = event_id; }
  bool watermark(uint64_t worker_id, uint64_t* event_id) const;

  // Appends (slot, depth >= 1) for every worker holding a prefix of the query. seqs may be null: the query's
  // sequence hashes are then computed as needed. Safe to call concurrently with other readers.
  void find_matches(const uint64_t* locals, const uint64_t* seqs, size_t n, std::vector<Match>* out) const;
  std::pair<uint64_t, uint32_t> worker_of(WorkerSlot s) const { return {workers_[s].worker_id, workers_[s].dp_rank}; }

  // Starts loading the table lines of these blocks (sequence hashes `stride` u64s apart), so an event applied a
  // little later finds them in cache.
  void prefetch(const uint64_t* seqs, size_t n, size_t stride) const {
    for (size_t i = 0; i < n; i++) blocks_.prefetch(seqs[i * stride]);
  }

  MemoryStats memory() const;
  const Counters& counters() const { return counters_; }
  // Blocks held per live (worker, dp rank).
  std::vector<std::pair<std::pair<uint64_t, uint32_t>, uint64_t>> worker_blocks() const;

  std::vector<uint8_t> snapshot() const;
  // Replaces the state; on a malformed snapshot returns false with `error` set and leaves the index empty.
  bool restore(const uint8_t* data, size_t len, std::string* error);

 private:
  struct Worker {
    uint64_t worker_id = 0;
    uint32_t dp_rank = 0;
    bool live = false;
    uint64_t held = 0;
    // Held blocks whose parent this worker does not hold. Zero means its blocks are prefix-closed, which is
    // what lets jump search trust a checkpoint hit for the skipped positions.
    int64_t holes = 0;
  };

  static bool spilled(const BlockEntry& e) { return e.slots_at >= BlockEntry::kSpillBase; }
  HolderSet& spill_of(const BlockEntry& e) { return spills_[e.slots_at - BlockEntry::kSpillBase]; }
  const HolderSet& spill_of(const BlockEntry& e) const { return spills_[e.slots_at - BlockEntry::kSpillBase]; }
  template <class F>
  void for_each_slot(const BlockEntry& e, F&& f) const {
    if (spilled(e)) {
      spill_of(e).for_each(f);
    } else {
      for (uint32_t i = 0; i < e.slots_at; i++) f(e.slots[i]);
    }
  }
  HolderSlot* find_slot(BlockEntry& e, WorkerSlot w);
  HolderSlot* add_slot(BlockEntry& e, WorkerSlot w);
  void remove_slot(BlockEntry& e, HolderSlot* s);
  // The block for seq, created under `parent` (null at the root) when missing. Entries do not move during it.
  BlockEntry* ensure_block(uint64_t seq, uint64_t local, BlockEntry* parent, uint32_t depth);
  // Erases e and, walking up, each ancestor left with no holder and no child.
  void prune(BlockEntry* e);
  // `parent`, when given, is e's parent entry (saves looking it up again).
  void hold(WorkerSlot w, BlockEntry* e, BlockEntry* parent);
  void release(WorkerSlot w, uint64_t seq);
  WorkerSlot worker_slot(uint64_t worker_id, uint32_t dp_rank);
  const WorkerSlot* find_worker(uint64_t worker_id, uint32_t dp_rank);
  // Drops every slot of these workers in one pass over the table, then prunes.
  void drop_workers(const std::vector<WorkerSlot>& ws);

  uint32_t jump_;
  BlockTable blocks_;
  std::vector<HolderSet> spills_;  // holder slots of entries with more than kInlineSlots
  std::vector<uint32_t> free_spills_;
  std::vector<Worker> workers_;
  std::map<std::pair<uint64_t, uint32_t>, WorkerSlot> slot_of_;
  std::vector<WorkerSlot> free_slots_;
  U64Map<uint64_t> watermarks_;
  // The last (worker, dp rank) looked up: events of one worker come in runs.
  uint64_t cached_worker_ = 0;
  uint32_t cached_dp_ = 0;
  WorkerSlot cached_slot_ = UINT32_MAX;
  Counters counters_;
};

}  // namespace kvasir
