#include "positional_index.h"

#include <algorithm>
#include <cstring>

#include "xxh3.h"

namespace kvasir {

HolderSlot* PositionalIndex::find_slot(BlockEntry& e, WorkerSlot w) {
  if (spilled(e)) return spill_of(e).find(w);
  for (uint32_t i = 0; i < e.slots_at; i++)
    if (e.slots[i].worker == w) return &e.slots[i];
  return nullptr;
}

HolderSlot* PositionalIndex::add_slot(BlockEntry& e, WorkerSlot w) {
  if (e.slots_at < BlockEntry::kInlineSlots) {
    e.slots[e.slots_at] = HolderSlot{w, 0};
    return &e.slots[e.slots_at++];
  }
  if (e.slots_at == BlockEntry::kInlineSlots) {
    uint32_t idx;
    if (!free_spills_.empty()) {
      idx = free_spills_.back();
      free_spills_.pop_back();
    } else {
      idx = static_cast<uint32_t>(spills_.size());
      spills_.emplace_back();
    }
    HolderSet& set = spills_[idx];
    for (const HolderSlot& s : e.slots) *set.add(s.worker) = s;
    e.slots_at = idx + BlockEntry::kSpillBase;
  }
  return spill_of(e).add(w);
}

void PositionalIndex::remove_slot(BlockEntry& e, HolderSlot* s) {
  if (spilled(e)) {
    spill_of(e).erase(s);
  } else {
    *s = e.slots[e.slots_at - 1];
    e.slots_at--;
  }
}

BlockEntry* PositionalIndex::ensure_block(uint64_t seq, uint64_t local, BlockEntry* parent, uint32_t depth) {
  bool inserted = false;
  BlockEntry* e = blocks_.insert(seq, &inserted);
  if (inserted) {
    e->local = local;
    e->depth1 = depth + 1;
    if (parent != nullptr) {
      e->parent_seq = parent->seq;
      parent->children++;
    }
  }
  return e;
}

void PositionalIndex::prune(BlockEntry* e) {
  while (e != nullptr && e->n_holds == 0 && e->children == 0) {
    // No holder and no child: no slot either (a slot without the hold bit counts held children).
    if (spilled(*e)) {
      spill_of(*e).clear();
      free_spills_.push_back(e->slots_at - BlockEntry::kSpillBase);
    }
    const bool has_parent = e->has_parent();
    const uint64_t parent_seq = e->parent_seq;
    blocks_.erase(e);
    if (!has_parent) return;
    e = blocks_.find(parent_seq);
    if (e != nullptr) e->children--;
  }
}

void PositionalIndex::hold(WorkerSlot w, BlockEntry* e, BlockEntry* parent) {
  HolderSlot* s = find_slot(*e, w);
  if (s != nullptr && s->holds()) return;
  if (s == nullptr) s = add_slot(*e, w);
  s->state |= 1U;
  e->n_holds++;
  Worker& wk = workers_[w];
  wk.held++;
  // Children of e this worker holds were holes until now.
  wk.holes -= s->held_children();
  if (!e->has_parent()) return;
  if (parent == nullptr || parent->seq != e->parent_seq) parent = blocks_.find(e->parent_seq);
  if (parent == nullptr) return;
  HolderSlot* ps = find_slot(*parent, w);
  if (ps == nullptr) ps = add_slot(*parent, w);
  ps->state += 2;
  if (!ps->holds()) wk.holes++;
}

void PositionalIndex::release(WorkerSlot w, uint64_t seq) {
  BlockEntry* e = blocks_.find(seq);
  if (e == nullptr) return;
  HolderSlot* s = find_slot(*e, w);
  if (s == nullptr || !s->holds()) return;
  s->state &= ~1U;
  e->n_holds--;
  Worker& wk = workers_[w];
  wk.held--;
  // Children of e this worker still holds become holes.
  wk.holes += s->held_children();
  if (s->state == 0) remove_slot(*e, s);
  if (e->has_parent()) {
    if (BlockEntry* p = blocks_.find(e->parent_seq)) {
      if (HolderSlot* ps = find_slot(*p, w)) {
        ps->state -= 2;
        if (!ps->holds()) wk.holes--;
        if (ps->state == 0) remove_slot(*p, ps);
      }
    }
  }
  prune(e);
}

const WorkerSlot* PositionalIndex::find_worker(uint64_t worker_id, uint32_t dp_rank) {
  if (cached_slot_ != UINT32_MAX && cached_worker_ == worker_id && cached_dp_ == dp_rank) return &cached_slot_;
  auto it = slot_of_.find(std::make_pair(worker_id, dp_rank));
  if (it == slot_of_.end()) return nullptr;
  cached_worker_ = worker_id;
  cached_dp_ = dp_rank;
  cached_slot_ = it->second;
  return &cached_slot_;
}

WorkerSlot PositionalIndex::worker_slot(uint64_t worker_id, uint32_t dp_rank) {
  if (const WorkerSlot* s = find_worker(worker_id, dp_rank)) return *s;
  WorkerSlot s;
  if (!free_slots_.empty()) {
    s = free_slots_.back();
    free_slots_.pop_back();
  } else {
    s = static_cast<WorkerSlot>(workers_.size());
    workers_.emplace_back();
  }
  Worker& wk = workers_[s];
  wk.worker_id = worker_id;
  wk.dp_rank = dp_rank;
  wk.live = true;
  wk.held = 0;
  wk.holes = 0;
  slot_of_.emplace(std::make_pair(worker_id, dp_rank), s);
  return s;
}

void PositionalIndex::drop_workers(const std::vector<WorkerSlot>& ws) {
  if (ws.empty()) return;
  cached_slot_ = UINT32_MAX;
  std::vector<uint8_t> dropped(workers_.size(), 0);
  for (WorkerSlot w : ws) dropped[w] = 1;
  // Without per-worker block lists, one pass over the table finds the workers' slots (cleared events and
  // removed workers are rare next to stores and removals).
  std::vector<uint64_t> orphans;
  blocks_.for_each([&](BlockEntry& e) {
    if (spilled(e)) {
      spill_of(e).filter([&](const HolderSlot& s) {
        if (dropped[s.worker] == 0) return true;
        if (s.holds()) e.n_holds--;
        return false;
      });
    } else {
      for (uint32_t i = 0; i < e.slots_at;) {
        if (dropped[e.slots[i].worker] == 0) {
          i++;
          continue;
        }
        if (e.slots[i].holds()) e.n_holds--;
        remove_slot(e, &e.slots[i]);
      }
    }
    if (e.n_holds == 0 && e.children == 0) orphans.push_back(e.seq);
  });
  for (uint64_t seq : orphans) prune(blocks_.find(seq));
  for (WorkerSlot w : ws) {
    Worker& wk = workers_[w];
    slot_of_.erase(std::make_pair(wk.worker_id, wk.dp_rank));
    wk.held = 0;
    wk.holes = 0;
    wk.live = false;
    free_slots_.push_back(w);
  }
}

void PositionalIndex::store(uint64_t worker_id, uint32_t dp_rank, bool has_parent, uint64_t parent_seq,
                            const BlockRef* blocks, size_t n) {
  if (n == 0) {
    // Still the reference's behaviour: an empty Stored event registers the worker when its parent is known.
    if (has_parent && blocks_.find(parent_seq) == nullptr) {
      counters_.unknown_parent++;
      return;
    }
    worker_slot(worker_id, dp_rank);
    return;
  }
  for (size_t i = 0; i < n; i++) blocks_.prefetch(blocks[i].seq);
  // No growth while the event applies, so entry pointers stay valid (an insert moves no other entry).
  blocks_.reserve(n);
  BlockEntry* parent = nullptr;
  if (has_parent) {
    parent = blocks_.find(parent_seq);
    if (parent == nullptr) {
      counters_.unknown_parent++;
      return;
    }
  }
  const WorkerSlot w = worker_slot(worker_id, dp_rank);
  for (size_t i = 0; i < n; i++) {
    BlockEntry* e = ensure_block(blocks[i].seq, blocks[i].local, parent, parent != nullptr ? parent->depth1 : 0);
    hold(w, e, parent);
    parent = e;
  }
}

void PositionalIndex::remove(uint64_t worker_id, uint32_t dp_rank, const uint64_t* seqs, size_t n) {
  const WorkerSlot* w = find_worker(worker_id, dp_rank);
  if (w == nullptr) return;
  const WorkerSlot slot = *w;
  for (size_t i = 0; i < n; i++) blocks_.prefetch(seqs[i]);
  for (size_t i = 0; i < n; i++) release(slot, seqs[i]);
}

void PositionalIndex::clear_worker(uint64_t worker_id, uint32_t dp_rank) {
  if (const WorkerSlot* w = find_worker(worker_id, dp_rank)) drop_workers({*w});
}

void PositionalIndex::remove_worker(uint64_t worker_id) {
  std::vector<WorkerSlot> slots;
  for (auto it = slot_of_.lower_bound(std::make_pair(worker_id, 0U));
       it != slot_of_.end() && it->first.first == worker_id; ++it)
    slots.push_back(it->second);
  drop_workers(slots);
  watermarks_.erase(worker_id);
}

void PositionalIndex::clear() {
  blocks_.clear();
  spills_.clear();
  free_spills_.clear();
  workers_.clear();
  slot_of_.clear();
  free_slots_.clear();
  watermarks_.clear();
  cached_slot_ = UINT32_MAX;
}

bool PositionalIndex::watermark(uint64_t worker_id, uint64_t* event_id) const {
  const uint64_t* ev = watermarks_.find(worker_id);
  if (ev == nullptr) return false;
  *event_id = *ev;
  return true;
}

namespace {
// Per-thread scratch for lookups, so concurrent readers never share mutable state.
struct LookupScratch {
  std::vector<uint32_t> stamp;
  uint32_t epoch = 0;
  std::vector<WorkerSlot> active;
  std::vector<uint64_t> seqs;
};
thread_local LookupScratch tl_scratch;
}  // namespace

void PositionalIndex::find_matches(const uint64_t* locals, const uint64_t* seqs, size_t n,
                                   std::vector<Match>* out) const {
  if (n == 0 || blocks_.size() == 0) return;
  LookupScratch& s = tl_scratch;
  if (s.stamp.size() < workers_.size()) s.stamp.resize(workers_.size(), 0);
  if (seqs == nullptr) s.seqs.clear();
  // The query's sequence hash at p, computed along the chain only as far as the search reaches.
  auto seq_at = [&](size_t p) -> uint64_t {
    if (seqs != nullptr) return seqs[p];
    while (s.seqs.size() <= p) {
      const size_t i = s.seqs.size();
      s.seqs.push_back(i == 0 ? locals[0] : next_seq_hash(s.seqs[i - 1], locals[i]));
    }
    return s.seqs[p];
  };
  // The query's block at p: the entry for its sequence hash, at that position with that local hash.
  auto lookup = [&](size_t p) -> const BlockEntry* {
    const BlockEntry* e = blocks_.find(seq_at(p));
    if (e == nullptr || e->depth() != p || e->local != locals[p]) return nullptr;
    return e;
  };
  auto mark = [&](const BlockEntry* b) {
    if (++s.epoch == 0) {
      std::fill(s.stamp.begin(), s.stamp.end(), 0);
      s.epoch = 1;
    }
    for_each_slot(*b, [&](const HolderSlot& h) {
      if (h.holds()) s.stamp[h.worker] = s.epoch;
    });
  };
  auto& active = s.active;
  // Drops the active workers that do not hold the query's block at p; they matched p blocks.
  auto drain = [&](size_t p, const BlockEntry* b) {
    if (b == nullptr) {
      for (WorkerSlot a : active) out->push_back({a, static_cast<uint32_t>(p)});
      active.clear();
      return;
    }
    mark(b);
    size_t k = 0;
    for (WorkerSlot a : active) {
      if (s.stamp[a] == s.epoch) {
        active[k++] = a;
      } else {
        out->push_back({a, static_cast<uint32_t>(p)});
      }
    }
    active.resize(k);
  };
  auto all_hold = [&](const BlockEntry* b) {
    if (b->n_holds < active.size()) return false;
    mark(b);
    for (WorkerSlot a : active)
      if (s.stamp[a] != s.epoch) return false;
    return true;
  };
  auto prefix_closed = [&]() {
    for (WorkerSlot a : active)
      if (workers_[a].holes != 0) return false;
    return true;
  };

  const BlockEntry* first = lookup(0);
  if (first == nullptr || first->n_holds == 0) return;
  active.clear();
  for_each_slot(*first, [&](const HolderSlot& h) {
    if (h.holds()) active.push_back(h.worker);
  });
  size_t good = 0;  // every active worker holds the query's blocks 0..good
  while (!active.empty() && good + 1 < n) {
    const size_t next = std::min(good + jump_, n - 1);
    if (next > good + 1 && prefix_closed()) {
      const BlockEntry* b = lookup(next);
      if (b != nullptr && all_hold(b)) {
        good = next;
        continue;
      }
    }
    // Some worker drained in (good, next]: scan the range for each one's exact drain point.
    for (size_t p = good + 1; p <= next && !active.empty(); p++) {
      drain(p, lookup(p));
      if (!active.empty()) good = p;
    }
  }
  for (WorkerSlot a : active) out->push_back({a, static_cast<uint32_t>(good + 1)});
}

MemoryStats PositionalIndex::memory() const {
  MemoryStats m;
  // (position, local hash) pairs, to count entries as the positional layout names them.
  std::vector<std::pair<uint32_t, uint64_t>> keys;
  keys.reserve(blocks_.size());
  blocks_.for_each([&](const BlockEntry& e) { keys.emplace_back(e.depth(), e.local); });
  std::sort(keys.begin(), keys.end());
  m.blocks = keys.size();
  for (size_t i = 0; i < keys.size();) {
    size_t j = i + 1;
    while (j < keys.size() && keys[j] == keys[i]) j++;
    m.entries++;
    if (j - i > 1) m.collision_entries++;
    if (i == 0 || keys[i].first != keys[i - 1].first) m.positions++;
    i = j;
  }
  uint64_t bytes = blocks_.bytes();
  for (const auto& set : spills_) bytes += set.bytes();
  for (const auto& w : workers_) {
    if (!w.live) continue;
    m.workers++;
    m.held_blocks += w.held;
  }
  bytes += workers_.capacity() * sizeof(Worker);
  m.approx_bytes = bytes;
  return m;
}

std::vector<std::pair<std::pair<uint64_t, uint32_t>, uint64_t>> PositionalIndex::worker_blocks() const {
  std::vector<std::pair<std::pair<uint64_t, uint32_t>, uint64_t>> out;
  for (const auto& [key, slot] : slot_of_) out.push_back({key, workers_[slot].held});
  return out;
}

// Snapshot layout (little-endian), version 1:
//   u32 magic "KVIX", u32 version
//   u32 workers, then per worker: u64 worker id, u32 dp rank
//   u32 watermarks, then per watermark: u64 worker id, u64 last event id
//   u64 blocks, then per block in position order: u32 position, u8 has parent, u64 local, u64 seq,
//     u64 parent seq, u64 parent local, u32 holders, holders x u32 (index into the worker list)
namespace {
constexpr uint32_t kSnapshotMagic = 0x5849564B;  // "KVIX"
constexpr uint32_t kSnapshotVersion = 1;

struct Writer {
  std::vector<uint8_t> out;
  template <class T>
  void put(T v) {
    uint8_t b[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); i++) b[i] = static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i));
    out.insert(out.end(), b, b + sizeof(T));
  }
};

struct Reader {
  const uint8_t* p;
  size_t len;
  size_t at = 0;
  bool ok = true;
  template <class T>
  T get() {
    if (!ok || len - at < sizeof(T)) {
      ok = false;
      return T{};
    }
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof(T); i++) v |= static_cast<uint64_t>(p[at + i]) << (8 * i);
    at += sizeof(T);
    return static_cast<T>(v);
  }
};
}  // namespace

std::vector<uint8_t> PositionalIndex::snapshot() const {
  Writer w;
  w.put<uint32_t>(kSnapshotMagic);
  w.put<uint32_t>(kSnapshotVersion);
  std::vector<uint32_t> index_of(workers_.size(), 0);
  w.put<uint32_t>(static_cast<uint32_t>(slot_of_.size()));
  uint32_t next = 0;
  for (const auto& [key, slot] : slot_of_) {
    index_of[slot] = next++;
    w.put<uint64_t>(key.first);
    w.put<uint32_t>(key.second);
  }
  w.put<uint32_t>(static_cast<uint32_t>(watermarks_.size()));
  watermarks_.for_each([&](uint64_t id, uint64_t ev) {
    w.put<uint64_t>(id);
    w.put<uint64_t>(ev);
  });
  // Parents before children: blocks in position order.
  std::vector<const BlockEntry*> order;
  order.reserve(blocks_.size());
  blocks_.for_each([&](const BlockEntry& e) { order.push_back(&e); });
  std::sort(order.begin(), order.end(), [](const BlockEntry* a, const BlockEntry* b) {
    return a->depth1 != b->depth1 ? a->depth1 < b->depth1 : a->seq < b->seq;
  });
  w.put<uint64_t>(order.size());
  for (const BlockEntry* e : order) {
    const BlockEntry* p = e->has_parent() ? blocks_.find(e->parent_seq) : nullptr;
    w.put<uint32_t>(e->depth());
    w.put<uint8_t>(e->has_parent() ? 1 : 0);
    w.put<uint64_t>(e->local);
    w.put<uint64_t>(e->seq);
    w.put<uint64_t>(e->has_parent() ? e->parent_seq : 0);
    w.put<uint64_t>(p != nullptr ? p->local : 0);
    w.put<uint32_t>(e->n_holds);
    for_each_slot(*e, [&](const HolderSlot& h) {
      if (h.holds()) w.put<uint32_t>(index_of[h.worker]);
    });
  }
  return std::move(w.out);
}

bool PositionalIndex::restore(const uint8_t* data, size_t len, std::string* error) {
  clear();
  Reader r{data, len};
  auto fail = [&](const std::string& why) {
    clear();
    *error = why;
    return false;
  };
  if (r.get<uint32_t>() != kSnapshotMagic) return fail("not an index snapshot (bad magic)");
  const uint32_t version = r.get<uint32_t>();
  if (version != kSnapshotVersion) return fail("unsupported index snapshot version " + std::to_string(version));
  const uint32_t n_workers = r.get<uint32_t>();
  if (!r.ok || static_cast<uint64_t>(n_workers) * 12 > len) return fail("truncated snapshot (workers)");
  std::vector<WorkerSlot> slots;
  slots.reserve(n_workers);
  for (uint32_t i = 0; i < n_workers; i++) {
    const uint64_t id = r.get<uint64_t>();
    const uint32_t dp = r.get<uint32_t>();
    slots.push_back(worker_slot(id, dp));
  }
  const uint32_t n_marks = r.get<uint32_t>();
  if (!r.ok || static_cast<uint64_t>(n_marks) * 16 > len) return fail("truncated snapshot (watermarks)");
  for (uint32_t i = 0; i < n_marks; i++) {
    const uint64_t id = r.get<uint64_t>();
    watermarks_.emplace(id) = r.get<uint64_t>();
  }
  const uint64_t n_blocks = r.get<uint64_t>();
  if (!r.ok || n_blocks > len) return fail("truncated snapshot (blocks)");
  for (uint64_t i = 0; i < n_blocks; i++) {
    const uint32_t pos = r.get<uint32_t>();
    const bool has_parent = r.get<uint8_t>() != 0;
    const uint64_t local = r.get<uint64_t>();
    const uint64_t seq = r.get<uint64_t>();
    const uint64_t parent_seq = r.get<uint64_t>();
    const uint64_t parent_local = r.get<uint64_t>();
    const uint32_t n_holders = r.get<uint32_t>();
    if (!r.ok) return fail("truncated snapshot (block " + std::to_string(i) + ")");
    if (has_parent != (pos > 0)) return fail("snapshot block " + std::to_string(i) + " has a bad parent flag");
    blocks_.reserve(1);
    BlockEntry* parent = nullptr;
    if (has_parent) {
      parent = blocks_.find(parent_seq);
      if (parent == nullptr || parent->depth() != pos - 1 || parent->local != parent_local)
        return fail("snapshot block " + std::to_string(i) + " names a missing parent");
    }
    BlockEntry* b = ensure_block(seq, local, parent, pos);
    if (b->depth() != pos || b->local != local)
      return fail("snapshot block " + std::to_string(i) + " repeats a sequence hash");
    for (uint32_t h = 0; h < n_holders; h++) {
      const uint32_t wi = r.get<uint32_t>();
      if (!r.ok || wi >= slots.size()) return fail("snapshot block " + std::to_string(i) + " names a bad worker");
      hold(slots[wi], b, parent);
    }
  }
  if (r.at != len) return fail("trailing bytes after the index snapshot");
  return true;
}

}  // namespace kvasir
