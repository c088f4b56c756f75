// The positional KV index (after Dynamo's Flash Indexer): index[position][local hash] -> entry, where an entry
// holds one block (sequence hash + holder set) inline and upgrades to a map only when two prefixes produce the
// same chunk hash at the same position. Not thread-safe by itself: ConcurrentIndexer adds locking.
//
// Semantics match the TypeScript radix reference (packages/kv/src/indexer/radix.ts) exactly: a block lives
// while a worker holds it or a live block hangs from it; a Stored event whose parent is not live is dropped;
// matches count a worker's blocks from position 0 until its first missing block.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "small_vec.h"
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

  MemoryStats memory() const;
  const Counters& counters() const { return counters_; }
  // Blocks held per live (worker, dp rank).
  std::vector<std::pair<std::pair<uint64_t, uint32_t>, uint64_t>> worker_blocks() const;

  std::vector<uint8_t> snapshot() const;
  // Replaces the state; on a malformed snapshot returns false with `error` set and leaves the index empty.
  bool restore(const uint8_t* data, size_t len, std::string* error);

 private:
  struct Block {
    uint64_t seq = 0;
    uint64_t parent_seq = 0;
    uint64_t parent_local = 0;
    bool has_parent = false;
    uint32_t children = 0;
    SmallU32Vec holders;
  };
  struct Entry {
    Block single;
    std::unique_ptr<U64Map<Block>> more;  // blocks beyond the first at this (position, local hash)
  };
  struct Location {
    uint32_t pos;
    uint64_t local;
  };
  struct Held {
    uint32_t pos;
    uint64_t local;
    uint64_t parent_seq;
    bool has_parent;
  };
  struct Worker {
    uint64_t worker_id = 0;
    uint32_t dp_rank = 0;
    bool live = false;
    U64Map<Held> held;
    U64Map<uint32_t> held_children;  // parent seq -> held blocks hanging from it
    // Held blocks whose parent this worker does not hold. Zero means its blocks are prefix-closed, which is
    // what lets jump search trust a checkpoint hit for the skipped positions.
    int64_t holes = 0;
  };

  Block* find_block(uint32_t pos, uint64_t local, uint64_t seq);
  const Block* find_block(uint32_t pos, uint64_t local, uint64_t seq) const {
    return const_cast<PositionalIndex*>(this)->find_block(pos, local, seq);
  }
  // `parent_hint`, when given, is the parent block (saves looking it up again).
  Block& ensure_block(uint32_t pos, uint64_t local, uint64_t seq, bool has_parent, uint64_t parent_seq,
                      uint64_t parent_local, Block* parent_hint = nullptr);
  void erase_block(uint32_t pos, uint64_t local, uint64_t seq);
  void prune(uint32_t pos, uint64_t local, uint64_t seq);
  // `parent_held`: the caller knows the worker holds b's parent (it just stored it).
  void hold(WorkerSlot w, uint32_t pos, uint64_t local, Block& b, bool parent_held = false);
  void release(WorkerSlot w, uint64_t seq);
  WorkerSlot worker_slot(uint64_t worker_id, uint32_t dp_rank);
  void drop_worker(WorkerSlot w);

  uint32_t jump_;
  std::vector<U64Map<Entry>> positions_;
  U64Map<Location> by_seq_;
  std::vector<Worker> workers_;
  std::map<std::pair<uint64_t, uint32_t>, WorkerSlot> slot_of_;
  std::vector<WorkerSlot> free_slots_;
  U64Map<uint64_t> watermarks_;
  Counters counters_;
};

}  // namespace kvasir
