// A PositionalIndex shared by every thread of the process: writes are applied by a pool of threads, each event
// routed to a thread chosen by its worker id (so one worker's events stay in order), reads run on the caller's
// thread under a shared lock. Instances are registered by id so Node worker_threads can open the same index.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "positional_index.h"

namespace kvasir {

// Packed event layout for apply_events (little-endian, documented in native/README.md):
//   header, 40 bytes: u8 kind (1 stored, 2 removed, 3 cleared), u8 flags (bit 0: has parent), u16 zero,
//                     u32 dp rank, u64 worker id, u64 event id, u64 parent seq hash, u32 count, u32 zero
//   stored:  count x (u64 local hash, u64 seq hash)
//   removed: count x u64 seq hash
//   cleared: nothing (count must be 0)
// A batch for run_batch may also hold lookups (kind 4; the other header fields are zero):
//   lookup:  count x u64 local hash
constexpr size_t kEventHeaderBytes = 40;
enum EventKind : uint8_t { kStored = 1, kRemoved = 2, kCleared = 3, kLookup = 4 };

// What run_batch found: per lookup record its number of matches, and the matches of all lookups back to back.
struct BatchResult {
  std::vector<uint32_t> counts;
  std::vector<uint64_t> worker_ids;
  std::vector<uint32_t> dp_ranks;
  std::vector<uint32_t> depths;
};

class ConcurrentIndexer {
 public:
  ConcurrentIndexer(uint32_t threads, uint32_t jump_size);
  ~ConcurrentIndexer();
  ConcurrentIndexer(const ConcurrentIndexer&) = delete;
  ConcurrentIndexer& operator=(const ConcurrentIndexer&) = delete;

  // Checks the whole buffer, then queues its events on the pool. Returns the number of events, or -1 with
  // `error` set when the buffer is malformed (nothing is applied then).
  int64_t apply_events(const uint8_t* data, size_t len, std::string* error);
  // Waits until every queued event has been applied.
  void flush();
  // Checks the whole buffer of events and lookups, then applies and answers them in order on the caller's
  // thread (after the queued events): one call across the N-API boundary for a whole batch. Returns the number
  // of records, or -1 with `error` set when the buffer is malformed (nothing is applied then).
  int64_t run_batch(const uint8_t* data, size_t len, BatchResult* out, std::string* error);

  void find_matches(const uint64_t* locals, const uint64_t* seqs, size_t n, std::vector<Match>* out,
                    std::vector<std::pair<uint64_t, uint32_t>>* ids) const;
  void remove_worker(uint64_t worker_id);
  void clear();
  std::vector<uint8_t> snapshot();
  bool restore(const uint8_t* data, size_t len, std::string* error);
  MemoryStats memory();
  Counters counters();
  bool watermark(uint64_t worker_id, uint64_t* event_id);
  std::vector<std::pair<std::pair<uint64_t, uint32_t>, uint64_t>> worker_blocks();
  uint32_t threads() const { return static_cast<uint32_t>(workers_.size()); }

 private:
  struct Task {
    std::shared_ptr<const std::vector<uint8_t>> buffer;
    std::vector<uint32_t> offsets;
  };
  struct Lane {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Task> queue;
    std::atomic<size_t> queued{0};
  };
  void run_lane(Lane* lane);
  void apply_one(const uint8_t* ev);
  void prefetch_record(const uint8_t* rec) const;
  // Offsets of the records of a packed buffer, or false with `error` set; lookups only when allowed.
  static bool scan(const uint8_t* data, size_t len, bool lookups, std::vector<uint32_t>* offsets,
                   std::string* error);

  mutable std::shared_mutex mu_;
  // Readers announce themselves so the write pool steps aside between lock holds instead of re-taking the lock
  // ahead of a reader that is still waking up (which starves lookups behind a busy writer).
  mutable std::atomic<int> readers_waiting_{0};
  mutable std::atomic<bool> writer_parked_{false};
  mutable std::mutex park_mu_;
  mutable std::condition_variable park_cv_;
  void wait_for_readers() const;
  PositionalIndex index_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::vector<std::thread> workers_;
  std::atomic<bool> stopping_{false};
  std::mutex pending_mu_;
  std::condition_variable pending_cv_;
  uint64_t pending_ = 0;
};

// Process-wide registry, so a worker_thread can open an index created on another thread.
uint32_t register_indexer(const std::shared_ptr<ConcurrentIndexer>& ix);
std::shared_ptr<ConcurrentIndexer> open_indexer(uint32_t id);

}  // namespace kvasir
