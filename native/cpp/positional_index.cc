#include "positional_index.h"

#include <algorithm>
#include <cstring>

#include "xxh3.h"

namespace kvasir {

PositionalIndex::Block* PositionalIndex::find_block(uint32_t pos, uint64_t local, uint64_t seq) {
  if (pos >= positions_.size()) return nullptr;
  Entry* e = positions_[pos].find(local);
  if (e == nullptr) return nullptr;
  if (e->single.seq == seq) return &e->single;
  return e->more ? e->more->find(seq) : nullptr;
}

PositionalIndex::Block& PositionalIndex::ensure_block(uint32_t pos, uint64_t local, uint64_t seq, bool has_parent,
                                                      uint64_t parent_seq, uint64_t parent_local, Block* parent_hint) {
  if (pos >= positions_.size()) positions_.resize(static_cast<size_t>(pos) + 1);
  bool created = false;
  Entry& e = positions_[pos].emplace(local, &created);
  Block* b = &e.single;
  if (!created && e.single.seq != seq) {
    if (!e.more) e.more = std::make_unique<U64Map<Block>>();
    b = &e.more->emplace(seq, &created);
  }
  if (created) {
    b->seq = seq;
    b->has_parent = has_parent;
    b->parent_seq = parent_seq;
    b->parent_local = parent_local;
    b->children = 0;
    b->holders.clear();
    by_seq_.emplace(seq) = Location{pos, local};
    if (has_parent && pos > 0) {
      Block* p = parent_hint != nullptr ? parent_hint : find_block(pos - 1, parent_local, parent_seq);
      if (p != nullptr) p->children++;
    }
  }
  return *b;
}

void PositionalIndex::erase_block(uint32_t pos, uint64_t local, uint64_t seq) {
  auto& map = positions_[pos];
  Entry* e = map.find(local);
  if (e == nullptr) return;
  if (e->single.seq == seq) {
    if (e->more && !e->more->empty()) {
      // Promote any collision block into the inline slot.
      uint64_t key = 0;
      e->more->for_each([&](uint64_t k, Block&) { key = k; });
      Block* moved = e->more->find(key);
      e->single = std::move(*moved);
      e->more->erase(key);
      if (e->more->empty()) e->more.reset();
    } else {
      map.erase(local);
    }
  } else if (e->more) {
    e->more->erase(seq);
    if (e->more->empty()) e->more.reset();
  }
  const Location* l = by_seq_.find(seq);
  if (l != nullptr && l->pos == pos && l->local == local) by_seq_.erase(seq);
}

void PositionalIndex::prune(uint32_t pos, uint64_t local, uint64_t seq) {
  for (;;) {
    const Block* b = find_block(pos, local, seq);
    if (b == nullptr || !b->holders.empty() || b->children > 0) return;
    const bool has_parent = b->has_parent;
    const uint64_t parent_seq = b->parent_seq;
    const uint64_t parent_local = b->parent_local;
    erase_block(pos, local, seq);
    if (!has_parent || pos == 0) return;
    Block* p = find_block(pos - 1, parent_local, parent_seq);
    if (p == nullptr) return;
    p->children--;
    pos--;
    local = parent_local;
    seq = parent_seq;
  }
}

void PositionalIndex::hold(WorkerSlot w, uint32_t pos, uint64_t local, Block& b, bool parent_held) {
  Worker& wk = workers_[w];
  bool inserted = false;
  Held& h = wk.held.emplace(b.seq, &inserted);
  if (!inserted) return;
  h = Held{pos, local, b.parent_seq, b.has_parent};
  b.holders.push_back(w);
  if (b.has_parent) {
    if (!parent_held && !wk.held.contains(b.parent_seq)) wk.holes++;
    wk.held_children.emplace(b.parent_seq)++;
  }
  if (const uint32_t* c = wk.held_children.find(b.seq)) wk.holes -= *c;
}

void PositionalIndex::release(WorkerSlot w, uint64_t seq) {
  Worker& wk = workers_[w];
  const Held* hp = wk.held.find(seq);
  if (hp == nullptr) return;
  const Held h = *hp;
  wk.held.erase(seq);
  if (Block* b = find_block(h.pos, h.local, seq)) {
    auto it = std::find(b->holders.begin(), b->holders.end(), w);
    if (it != b->holders.end()) {
      *it = b->holders.back();
      b->holders.pop_back();
    }
  }
  if (h.has_parent) {
    if (!wk.held.contains(h.parent_seq)) wk.holes--;
    if (uint32_t* c = wk.held_children.find(h.parent_seq)) {
      if (--*c == 0) wk.held_children.erase(h.parent_seq);
    }
  }
  if (const uint32_t* c = wk.held_children.find(seq)) wk.holes += *c;
  prune(h.pos, h.local, seq);
}

WorkerSlot PositionalIndex::worker_slot(uint64_t worker_id, uint32_t dp_rank) {
  const auto key = std::make_pair(worker_id, dp_rank);
  auto it = slot_of_.find(key);
  if (it != slot_of_.end()) return it->second;
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
  wk.holes = 0;
  slot_of_.emplace(key, s);
  return s;
}

void PositionalIndex::drop_worker(WorkerSlot w) {
  std::vector<std::pair<uint64_t, Held>> held;
  Worker& wk = workers_[w];
  held.reserve(wk.held.size());
  wk.held.for_each([&](uint64_t seq, const Held& h) { held.emplace_back(seq, h); });
  slot_of_.erase(std::make_pair(wk.worker_id, wk.dp_rank));
  wk.held.clear();
  wk.held_children.clear();
  wk.holes = 0;
  wk.live = false;
  for (const auto& [seq, h] : held) {
    if (Block* b = find_block(h.pos, h.local, seq)) {
      auto it = std::find(b->holders.begin(), b->holders.end(), w);
      if (it != b->holders.end()) {
        *it = b->holders.back();
        b->holders.pop_back();
      }
    }
    prune(h.pos, h.local, seq);
  }
  free_slots_.push_back(w);
}

void PositionalIndex::store(uint64_t worker_id, uint32_t dp_rank, bool has_parent, uint64_t parent_seq,
                            const BlockRef* blocks, size_t n) {
  uint32_t pos = 0;
  uint64_t parent_local = 0;
  if (has_parent) {
    const Location* l = by_seq_.find(parent_seq);
    if (l == nullptr) {
      counters_.unknown_parent++;
      return;
    }
    pos = l->pos + 1;
    parent_local = l->local;
  }
  const WorkerSlot w = worker_slot(worker_id, dp_rank);
  // Blocks live in per-position maps, so inserting at `pos` never moves the parent block at `pos - 1`.
  Block* parent = nullptr;
  for (size_t i = 0; i < n; i++) {
    Block& b = ensure_block(pos, blocks[i].local, blocks[i].seq, has_parent, parent_seq, parent_local, parent);
    // Within one event the previous block, which the worker now holds, is the parent (unless this block
    // already existed under another parent, which only an inconsistent chain can cause).
    hold(w, pos, blocks[i].local, b, i > 0 && b.parent_seq == parent_seq && b.has_parent);
    parent = &b;
    has_parent = true;
    parent_seq = blocks[i].seq;
    parent_local = blocks[i].local;
    pos++;
  }
}

void PositionalIndex::remove(uint64_t worker_id, uint32_t dp_rank, const uint64_t* seqs, size_t n) {
  auto it = slot_of_.find(std::make_pair(worker_id, dp_rank));
  if (it == slot_of_.end()) return;
  for (size_t i = 0; i < n; i++) release(it->second, seqs[i]);
}

void PositionalIndex::clear_worker(uint64_t worker_id, uint32_t dp_rank) {
  auto it = slot_of_.find(std::make_pair(worker_id, dp_rank));
  if (it != slot_of_.end()) drop_worker(it->second);
}

void PositionalIndex::remove_worker(uint64_t worker_id) {
  std::vector<WorkerSlot> slots;
  for (auto it = slot_of_.lower_bound(std::make_pair(worker_id, 0U));
       it != slot_of_.end() && it->first.first == worker_id; ++it)
    slots.push_back(it->second);
  for (WorkerSlot s : slots) drop_worker(s);
  watermarks_.erase(worker_id);
}

void PositionalIndex::clear() {
  positions_.clear();
  by_seq_.clear();
  workers_.clear();
  slot_of_.clear();
  free_slots_.clear();
  watermarks_.clear();
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
  if (n == 0 || positions_.empty()) return;
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
  auto lookup = [&](size_t p) -> const Block* {
    if (p >= positions_.size()) return nullptr;
    return find_block(static_cast<uint32_t>(p), locals[p], seq_at(p));
  };
  auto mark = [&](const Block* b) {
    if (++s.epoch == 0) {
      std::fill(s.stamp.begin(), s.stamp.end(), 0);
      s.epoch = 1;
    }
    for (WorkerSlot h : b->holders) s.stamp[h] = s.epoch;
  };
  auto& active = s.active;
  // Drops the active workers that do not hold the query's block at p; they matched p blocks.
  auto drain = [&](size_t p, const Block* b) {
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
  auto all_hold = [&](const Block* b) {
    if (b->holders.size() < active.size()) return false;
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

  const Block* first = lookup(0);
  if (first == nullptr || first->holders.empty()) return;
  active.assign(first->holders.begin(), first->holders.end());
  size_t good = 0;  // every active worker holds the query's blocks 0..good
  while (!active.empty() && good + 1 < n) {
    const size_t next = std::min(good + jump_, n - 1);
    if (next > good + 1 && prefix_closed()) {
      const Block* b = lookup(next);
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
  uint64_t bytes = positions_.capacity() * sizeof(U64Map<Entry>);
  auto block_bytes = [](const Block& b) {
    return b.holders.capacity() > SmallU32Vec::kInline ? b.holders.capacity() * sizeof(WorkerSlot) : 0;
  };
  for (const auto& map : positions_) {
    bytes += map.capacity() * sizeof(U64Map<Entry>::Slot);
    if (!map.empty()) m.positions++;
    map.for_each([&](uint64_t, const Entry& e) {
      m.entries++;
      m.blocks++;
      bytes += block_bytes(e.single);
      if (e.more) {
        m.collision_entries++;
        m.blocks += e.more->size();
        bytes += e.more->capacity() * sizeof(U64Map<Block>::Slot);
        e.more->for_each([&](uint64_t, const Block& b) { bytes += block_bytes(b); });
      }
    });
  }
  bytes += by_seq_.capacity() * sizeof(U64Map<Location>::Slot);
  for (const auto& w : workers_) {
    if (!w.live) continue;
    m.workers++;
    m.held_blocks += w.held.size();
    bytes += w.held.capacity() * sizeof(U64Map<Held>::Slot);
    bytes += w.held_children.capacity() * sizeof(U64Map<uint32_t>::Slot);
  }
  bytes += workers_.capacity() * sizeof(Worker);
  m.approx_bytes = bytes;
  return m;
}

std::vector<std::pair<std::pair<uint64_t, uint32_t>, uint64_t>> PositionalIndex::worker_blocks() const {
  std::vector<std::pair<std::pair<uint64_t, uint32_t>, uint64_t>> out;
  for (const auto& [key, slot] : slot_of_) out.push_back({key, workers_[slot].held.size()});
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
  uint64_t count = 0;
  for (const auto& map : positions_)
    map.for_each([&](uint64_t, const Entry& e) { count += 1 + (e.more ? e.more->size() : 0); });
  w.put<uint64_t>(count);
  auto put_block = [&](uint32_t pos, uint64_t local, const Block& b) {
    w.put<uint32_t>(pos);
    w.put<uint8_t>(b.has_parent ? 1 : 0);
    w.put<uint64_t>(local);
    w.put<uint64_t>(b.seq);
    w.put<uint64_t>(b.parent_seq);
    w.put<uint64_t>(b.parent_local);
    w.put<uint32_t>(static_cast<uint32_t>(b.holders.size()));
    for (WorkerSlot h : b.holders) w.put<uint32_t>(index_of[h]);
  };
  for (uint32_t pos = 0; pos < positions_.size(); pos++) {
    positions_[pos].for_each([&](uint64_t local, const Entry& e) {
      put_block(pos, local, e.single);
      if (e.more) e.more->for_each([&](uint64_t, const Block& b) { put_block(pos, local, b); });
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
    if (pos > positions_.size()) return fail("snapshot block " + std::to_string(i) + " skips a position");
    if (has_parent && find_block(pos - 1, parent_local, parent_seq) == nullptr)
      return fail("snapshot block " + std::to_string(i) + " names a missing parent");
    Block& b = ensure_block(pos, local, seq, has_parent, parent_seq, parent_local);
    for (uint32_t h = 0; h < n_holders; h++) {
      const uint32_t wi = r.get<uint32_t>();
      if (!r.ok || wi >= slots.size()) return fail("snapshot block " + std::to_string(i) + " names a bad worker");
      hold(slots[wi], pos, local, b);
    }
  }
  if (r.at != len) return fail("trailing bytes after the index snapshot");
  return true;
}

}  // namespace kvasir
