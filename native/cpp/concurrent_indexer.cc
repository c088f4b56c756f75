#include "concurrent_indexer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_map>

namespace kvasir {
namespace {

template <class T>
T load_le(const uint8_t* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); i++) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return static_cast<T>(v);
}

// Events applied per exclusive-lock hold: long enough to amortize the lock, short enough that readers
// are not starved by a large batch.
constexpr size_t kEventsPerLock = 8;

// How long an idle write thread polls for more work before it sleeps.
constexpr int kSpinMicros = 20;

// Records ahead whose table lines run_batch prefetches: far enough to hide a miss, near enough to stay cached.
constexpr size_t kPrefetchAhead = 3;

}  // namespace

ConcurrentIndexer::ConcurrentIndexer(uint32_t threads, uint32_t jump_size) : index_(jump_size) {
  if (threads < 1) threads = 1;
  for (uint32_t i = 0; i < threads; i++) lanes_.push_back(std::make_unique<Lane>());
  for (uint32_t i = 0; i < threads; i++) workers_.emplace_back([this, i] { run_lane(lanes_[i].get()); });
}

ConcurrentIndexer::~ConcurrentIndexer() {
  for (auto& lane : lanes_) {
    std::lock_guard<std::mutex> g(lane->mu);
    stopping_ = true;
    lane->cv.notify_all();
  }
  for (auto& t : workers_) t.join();
}

void ConcurrentIndexer::run_lane(Lane* lane) {
  for (;;) {
    Task task;
    // Events come in bursts of small batches; waiting briefly for the next one is cheaper than a sleep and
    // wake-up per batch.
    const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
    while (lane->queued.load(std::memory_order_acquire) == 0 && !stopping_.load() &&
           std::chrono::steady_clock::now() < spin_until)
      std::this_thread::yield();
    {
      std::unique_lock<std::mutex> g(lane->mu);
      lane->cv.wait(g, [&] { return stopping_ || !lane->queue.empty(); });
      if (lane->queue.empty()) return;
      task = std::move(lane->queue.front());
      lane->queue.pop_front();
      lane->queued.fetch_sub(1, std::memory_order_release);
    }
    const uint8_t* base = task.buffer->data();
    for (size_t i = 0; i < task.offsets.size(); i += kEventsPerLock) {
      const size_t end = std::min(task.offsets.size(), i + kEventsPerLock);
      wait_for_readers();
      std::unique_lock<std::shared_mutex> w(mu_);
      for (size_t j = i; j < end; j++) apply_one(base + task.offsets[j]);
    }
    std::lock_guard<std::mutex> g(pending_mu_);
    if (--pending_ == 0) pending_cv_.notify_all();
  }
}

// Parks the writer until waiting readers have their shared lock (bounded, in case a notification is missed).
void ConcurrentIndexer::wait_for_readers() const {
  if (readers_waiting_.load() == 0) return;
  writer_parked_.store(true);
  {
    std::unique_lock<std::mutex> g(park_mu_);
    park_cv_.wait_for(g, std::chrono::microseconds(500), [&] { return readers_waiting_.load() == 0; });
  }
  writer_parked_.store(false);
}

void ConcurrentIndexer::apply_one(const uint8_t* ev) {
  const uint8_t kind = ev[0];
  const bool has_parent = (ev[1] & 1) != 0;
  const uint32_t dp = load_le<uint32_t>(ev + 4);
  const uint64_t worker = load_le<uint64_t>(ev + 8);
  const uint64_t event_id = load_le<uint64_t>(ev + 16);
  const uint64_t parent = load_le<uint64_t>(ev + 24);
  const uint32_t count = load_le<uint32_t>(ev + 32);
  const uint8_t* body = ev + kEventHeaderBytes;
  index_.set_watermark(worker, event_id);
  switch (kind) {
    // The buffer is 8-byte aligned and every body starts at a multiple of 8, and the addon only loads on
    // little-endian hosts, so the packed pairs and hashes are used in place.
    case kStored:
      static_assert(sizeof(BlockRef) == 16, "BlockRef must match the packed (local, seq) pair");
      index_.store(worker, dp, has_parent, parent, reinterpret_cast<const BlockRef*>(body), count);
      break;
    case kRemoved:
      index_.remove(worker, dp, reinterpret_cast<const uint64_t*>(body), count);
      break;
    case kCleared:
      index_.clear_worker(worker, dp);
      break;
    default:
      break;
  }
}

bool ConcurrentIndexer::scan(const uint8_t* data, size_t len, bool lookups, std::vector<uint32_t>* offsets,
                             std::string* error) {
  if (len > UINT32_MAX) {
    *error = "event buffer larger than 4 GiB";
    return false;
  }
  size_t at = 0;
  size_t fetched = 0;  // the buffer is read ahead of the walk over its headers, which a hardware prefetcher misses
  while (at < len) {
    for (const size_t until = std::min(len, at + 1024); fetched < until; fetched += 64) __builtin_prefetch(data + fetched);
    if (len - at < kEventHeaderBytes) {
      *error = "truncated event header at byte " + std::to_string(at);
      return false;
    }
    const uint8_t* ev = data + at;
    const uint8_t kind = ev[0];
    const uint64_t count = load_le<uint32_t>(ev + 32);
    uint64_t body = 0;
    if (kind == kStored) {
      body = count * 16;
    } else if (kind == kRemoved || (kind == kLookup && lookups)) {
      body = count * 8;
    } else if (kind == kCleared) {
      if (count != 0) {
        *error = "cleared event with a non-zero count at byte " + std::to_string(at);
        return false;
      }
    } else {
      *error = "unknown event kind " + std::to_string(kind) + " at byte " + std::to_string(at);
      return false;
    }
    if (len - at - kEventHeaderBytes < body) {
      *error = "truncated event body at byte " + std::to_string(at);
      return false;
    }
    offsets->push_back(static_cast<uint32_t>(at));
    at += kEventHeaderBytes + body;
  }
  return true;
}

int64_t ConcurrentIndexer::apply_events(const uint8_t* data, size_t len, std::string* error) {
  std::vector<uint32_t> offsets;
  if (!scan(data, len, false, &offsets, error)) return -1;
  if (offsets.empty()) return 0;
  const size_t lanes = lanes_.size();
  std::vector<std::vector<uint32_t>> per_lane(lanes);
  for (const uint32_t at : offsets) {
    const uint64_t worker = load_le<uint64_t>(data + at + 8);
    const uint64_t mixed = (worker * 0x9E3779B97F4A7C15ULL) >> 32;
    per_lane[mixed % lanes].push_back(at);
  }
  auto buffer = std::make_shared<const std::vector<uint8_t>>(data, data + len);
  size_t tasks = 0;
  for (const auto& offs : per_lane) tasks += offs.empty() ? 0 : 1;
  {
    std::lock_guard<std::mutex> g(pending_mu_);
    pending_ += tasks;
  }
  for (size_t i = 0; i < lanes; i++) {
    if (per_lane[i].empty()) continue;
    Lane& lane = *lanes_[i];
    std::lock_guard<std::mutex> g(lane.mu);
    lane.queue.push_back(Task{buffer, std::move(per_lane[i])});
    lane.queued.fetch_add(1, std::memory_order_release);
    lane.cv.notify_one();
  }
  return static_cast<int64_t>(offsets.size());
}

// Table lines of a record's blocks (at most a few): a lookup's first sequence hash is its first local hash.
void ConcurrentIndexer::prefetch_record(const uint8_t* rec) const {
  constexpr size_t kMaxBlocks = 8;
  const size_t n = std::min<size_t>(load_le<uint32_t>(rec + 32), kMaxBlocks);
  const auto* body = reinterpret_cast<const uint64_t*>(rec + kEventHeaderBytes);
  switch (rec[0]) {
    case kStored:
      index_.prefetch(body + 1, n, 2);
      break;
    case kRemoved:
      index_.prefetch(body, n, 1);
      break;
    case kLookup:
      index_.prefetch(body, n == 0 ? 0 : 1, 1);
      break;
    default:
      break;
  }
}

int64_t ConcurrentIndexer::run_batch(const uint8_t* data, size_t len, BatchResult* out, std::string* error) {
  std::vector<uint32_t> offsets;
  if (!scan(data, len, true, &offsets, error)) return -1;
  // Records are read in place as u64 arrays; a buffer that is not 8-byte aligned is copied once.
  std::vector<uint64_t> aligned;
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0) {
    aligned.resize((len + 7) / 8);
    std::memcpy(aligned.data(), data, len);
    data = reinterpret_cast<const uint8_t*>(aligned.data());
  }
  flush();
  std::vector<Match> matches;
  // Records per exclusive-lock hold: the lock is taken once for many of them, yet other threads' readers get
  // their turn between holds.
  constexpr size_t kRecordsPerLock = 64;
  for (size_t i = 0; i < offsets.size(); i += kRecordsPerLock) {
    const size_t end = std::min(offsets.size(), i + kRecordsPerLock);
    wait_for_readers();
    std::unique_lock<std::shared_mutex> w(mu_);
    for (size_t j = i; j < end; j++) {
      if (j + kPrefetchAhead < offsets.size()) prefetch_record(data + offsets[j + kPrefetchAhead]);
      const uint8_t* rec = data + offsets[j];
      if (rec[0] != kLookup) {
        apply_one(rec);
        continue;
      }
      matches.clear();
      index_.find_matches(reinterpret_cast<const uint64_t*>(rec + kEventHeaderBytes), nullptr,
                          load_le<uint32_t>(rec + 32), &matches);
      out->counts.push_back(static_cast<uint32_t>(matches.size()));
      for (const Match& m : matches) {
        const auto id = index_.worker_of(m.slot);
        out->worker_ids.push_back(id.first);
        out->dp_ranks.push_back(id.second);
        out->depths.push_back(m.depth);
      }
    }
  }
  return static_cast<int64_t>(offsets.size());
}

void ConcurrentIndexer::flush() {
  std::unique_lock<std::mutex> g(pending_mu_);
  pending_cv_.wait(g, [&] { return pending_ == 0; });
}

void ConcurrentIndexer::find_matches(const uint64_t* locals, const uint64_t* seqs, size_t n, std::vector<Match>* out,
                                     std::vector<std::pair<uint64_t, uint32_t>>* ids) const {
  readers_waiting_.fetch_add(1);
  std::shared_lock<std::shared_mutex> r(mu_);
  if (readers_waiting_.fetch_sub(1) == 1 && writer_parked_.load()) {
    std::lock_guard<std::mutex> g(park_mu_);
    park_cv_.notify_all();
  }
  index_.find_matches(locals, seqs, n, out);
  ids->clear();
  ids->reserve(out->size());
  for (const Match& m : *out) ids->push_back(index_.worker_of(m.slot));
}

void ConcurrentIndexer::remove_worker(uint64_t worker_id) {
  flush();
  std::unique_lock<std::shared_mutex> w(mu_);
  index_.remove_worker(worker_id);
}

void ConcurrentIndexer::clear() {
  flush();
  std::unique_lock<std::shared_mutex> w(mu_);
  index_.clear();
}

std::vector<uint8_t> ConcurrentIndexer::snapshot() {
  flush();
  std::shared_lock<std::shared_mutex> r(mu_);
  return index_.snapshot();
}

bool ConcurrentIndexer::restore(const uint8_t* data, size_t len, std::string* error) {
  flush();
  std::unique_lock<std::shared_mutex> w(mu_);
  return index_.restore(data, len, error);
}

MemoryStats ConcurrentIndexer::memory() {
  std::shared_lock<std::shared_mutex> r(mu_);
  return index_.memory();
}

Counters ConcurrentIndexer::counters() {
  std::shared_lock<std::shared_mutex> r(mu_);
  return index_.counters();
}

bool ConcurrentIndexer::watermark(uint64_t worker_id, uint64_t* event_id) {
  std::shared_lock<std::shared_mutex> r(mu_);
  return index_.watermark(worker_id, event_id);
}

std::vector<std::pair<std::pair<uint64_t, uint32_t>, uint64_t>> ConcurrentIndexer::worker_blocks() {
  std::shared_lock<std::shared_mutex> r(mu_);
  return index_.worker_blocks();
}

namespace {
std::mutex registry_mu;
std::unordered_map<uint32_t, std::weak_ptr<ConcurrentIndexer>> registry;
uint32_t next_id = 1;
}  // namespace

uint32_t register_indexer(const std::shared_ptr<ConcurrentIndexer>& ix) {
  std::lock_guard<std::mutex> g(registry_mu);
  for (auto it = registry.begin(); it != registry.end();) {
    if (it->second.expired()) {
      it = registry.erase(it);
    } else {
      ++it;
    }
  }
  const uint32_t id = next_id++;
  registry.emplace(id, ix);
  return id;
}

std::shared_ptr<ConcurrentIndexer> open_indexer(uint32_t id) {
  std::lock_guard<std::mutex> g(registry_mu);
  auto it = registry.find(id);
  return it == registry.end() ? nullptr : it->second.lock();
}

}  // namespace kvasir
