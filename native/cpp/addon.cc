// N-API bindings. The addon is context-aware: every Node environment (main thread or worker_thread) gets its
// own class constructors, while the indexes themselves live in a process-wide registry.
#include <napi.h>

#include <cstring>
#include <string>
#include <vector>

#include "concurrent_indexer.h"
#include "transfer_binding.h"
#include "xxh3.h"

namespace kvasir {
namespace {

Napi::Error type_error(Napi::Env env, const std::string& msg) { return Napi::TypeError::New(env, msg); }

uint64_t to_u64(const Napi::Value& v, const char* what) {
  if (!v.IsBigInt()) throw type_error(v.Env(), std::string(what) + " must be a bigint");
  bool lossless = true;
  const uint64_t out = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(v.Env(), std::string(what) + " must fit in an unsigned 64-bit integer");
  return out;
}

Napi::TypedArrayOf<uint64_t> to_u64_array(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array)
    throw type_error(v.Env(), std::string(what) + " must be a BigUint64Array");
  return v.As<Napi::TypedArrayOf<uint64_t>>();
}

std::pair<const uint8_t*, size_t> bytes_of(const Napi::Value& v, const char* what) {
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    auto ta = v.As<Napi::Uint8Array>();
    return {ta.Data(), ta.ByteLength()};
  }
  if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    return {static_cast<const uint8_t*>(ab.Data()), ab.ByteLength()};
  }
  throw type_error(v.Env(), std::string(what) + " must be a Uint8Array or an ArrayBuffer");
}

Napi::Value Xxh3(const Napi::CallbackInfo& info) {
  auto [data, len] = bytes_of(info[0], "data");
  const uint64_t seed = info.Length() > 1 && !info[1].IsUndefined() ? to_u64(info[1], "seed") : 0;
  return Napi::BigInt::New(info.Env(), xxh3_64(data, len, seed));
}

// hashBlocks(tokens: Uint32Array, blockSize: number, seed: bigint) -> [local, seq]
Napi::Value HashBlocks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    throw type_error(env, "tokens must be a Uint32Array");
  auto tokens = info[0].As<Napi::TypedArrayOf<uint32_t>>();
  const double bs = info[1].As<Napi::Number>().DoubleValue();
  if (!(bs >= 1) || bs != static_cast<double>(static_cast<uint32_t>(bs)))
    throw Napi::RangeError::New(env, "block size must be a positive integer");
  const size_t block_size = static_cast<size_t>(bs);
  const uint64_t seed = to_u64(info[2], "seed");
  const size_t blocks = tokens.ElementLength() / block_size;
  auto local = Napi::TypedArrayOf<uint64_t>::New(env, blocks, napi_biguint64_array);
  auto seq = Napi::TypedArrayOf<uint64_t>::New(env, blocks, napi_biguint64_array);
  hash_blocks(tokens.Data(), tokens.ElementLength(), block_size, seed, local.Data(), seq.Data());
  auto out = Napi::Array::New(env, 2);
  out.Set(0u, local);
  out.Set(1u, seq);
  return out;
}

class NativeIndex : public Napi::ObjectWrap<NativeIndex> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeIndex",
                       {
                           InstanceMethod<&NativeIndex::Id>("id"),
                           InstanceMethod<&NativeIndex::Threads>("threads"),
                           InstanceMethod<&NativeIndex::ApplyEvents>("applyEvents"),
                           InstanceMethod<&NativeIndex::RunBatch>("runBatch"),
                           InstanceMethod<&NativeIndex::Flush>("flush"),
                           InstanceMethod<&NativeIndex::FindMatches>("findMatches"),
                           InstanceMethod<&NativeIndex::RemoveWorker>("removeWorker"),
                           InstanceMethod<&NativeIndex::Clear>("clear"),
                           InstanceMethod<&NativeIndex::Snapshot>("snapshot"),
                           InstanceMethod<&NativeIndex::Restore>("restore"),
                           InstanceMethod<&NativeIndex::Memory>("memoryStats"),
                           InstanceMethod<&NativeIndex::CountersJs>("counters"),
                           InstanceMethod<&NativeIndex::LastEventId>("lastEventId"),
                           InstanceMethod<&NativeIndex::WorkerBlocks>("workerBlocks"),
                       });
  }

  // new NativeIndex(threads, jumpSize) creates an index; new NativeIndex(0, 0, id) opens a registered one.
  explicit NativeIndex(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeIndex>(info) {
    Napi::Env env = info.Env();
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      const uint32_t id = info[2].As<Napi::Number>().Uint32Value();
      ix_ = open_indexer(id);
      if (!ix_) throw Napi::Error::New(env, "no native index with id " + std::to_string(id) + " is open");
      id_ = id;
      return;
    }
    const uint32_t threads = info[0].As<Napi::Number>().Uint32Value();
    const uint32_t jump = info[1].As<Napi::Number>().Uint32Value();
    ix_ = std::make_shared<ConcurrentIndexer>(threads, jump);
    id_ = register_indexer(ix_);
  }

 private:
  Napi::Value Id(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }
  Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ix_->threads()); }

  Napi::Value ApplyEvents(const Napi::CallbackInfo& info) {
    auto [data, len] = bytes_of(info[0], "events");
    std::string error;
    const int64_t n = ix_->apply_events(data, len, &error);
    if (n < 0) throw Napi::RangeError::New(info.Env(), "malformed event buffer: " + error);
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  // runBatch(records) -> { counts, workerIds, dpRanks, depths }: events and lookups in order, in one call.
  Napi::Value RunBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto [data, len] = bytes_of(info[0], "records");
    std::string error;
    BatchResult r;
    if (ix_->run_batch(data, len, &r, &error) < 0)
      throw Napi::RangeError::New(env, "malformed batch buffer: " + error);
    auto out = Napi::Object::New(env);
    out.Set("counts", copy_out<uint32_t, Napi::Uint32Array>(env, r.counts));
    out.Set("dpRanks", copy_out<uint32_t, Napi::Uint32Array>(env, r.dp_ranks));
    out.Set("depths", copy_out<uint32_t, Napi::Uint32Array>(env, r.depths));
    auto workers = Napi::TypedArrayOf<uint64_t>::New(env, r.worker_ids.size(), napi_biguint64_array);
    if (!r.worker_ids.empty()) std::memcpy(workers.Data(), r.worker_ids.data(), r.worker_ids.size() * 8);
    out.Set("workerIds", workers);
    return out;
  }

  template <class T, class A>
  static A copy_out(Napi::Env env, const std::vector<T>& v) {
    auto a = A::New(env, v.size());
    if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(T));
    return a;
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    ix_->flush();
    return info.Env().Undefined();
  }

  Napi::Value FindMatches(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto locals = to_u64_array(info[0], "localHashes");
    const uint64_t* seqs = nullptr;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      auto s = to_u64_array(info[1], "seqHashes");
      if (s.ElementLength() != locals.ElementLength())
        throw Napi::RangeError::New(env, "seqHashes and localHashes differ in length");
      seqs = s.Data();
    }
    matches_.clear();
    ix_->find_matches(locals.Data(), seqs, locals.ElementLength(), &matches_, &ids_);
    const size_t n = matches_.size();
    auto workers = Napi::TypedArrayOf<uint64_t>::New(env, n, napi_biguint64_array);
    auto ranks = Napi::Uint32Array::New(env, n);
    auto depths = Napi::Uint32Array::New(env, n);
    for (size_t i = 0; i < n; i++) {
      workers[i] = ids_[i].first;
      ranks[i] = ids_[i].second;
      depths[i] = matches_[i].depth;
    }
    auto out = Napi::Object::New(env);
    out.Set("workerIds", workers);
    out.Set("dpRanks", ranks);
    out.Set("depths", depths);
    return out;
  }

  Napi::Value RemoveWorker(const Napi::CallbackInfo& info) {
    ix_->remove_worker(to_u64(info[0], "workerId"));
    return info.Env().Undefined();
  }

  Napi::Value Clear(const Napi::CallbackInfo& info) {
    ix_->clear();
    return info.Env().Undefined();
  }

  Napi::Value Snapshot(const Napi::CallbackInfo& info) {
    std::vector<uint8_t> bytes = ix_->snapshot();
    return Napi::Buffer<uint8_t>::Copy(info.Env(), bytes.data(), bytes.size());
  }

  Napi::Value Restore(const Napi::CallbackInfo& info) {
    auto [data, len] = bytes_of(info[0], "snapshot");
    std::string error;
    if (!ix_->restore(data, len, &error)) throw Napi::Error::New(info.Env(), "bad index snapshot: " + error);
    return info.Env().Undefined();
  }

  Napi::Value Memory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const MemoryStats m = ix_->memory();
    auto out = Napi::Object::New(env);
    out.Set("positions", Napi::Number::New(env, static_cast<double>(m.positions)));
    out.Set("entries", Napi::Number::New(env, static_cast<double>(m.entries)));
    out.Set("blocks", Napi::Number::New(env, static_cast<double>(m.blocks)));
    out.Set("collisionEntries", Napi::Number::New(env, static_cast<double>(m.collision_entries)));
    out.Set("workers", Napi::Number::New(env, static_cast<double>(m.workers)));
    out.Set("heldBlocks", Napi::Number::New(env, static_cast<double>(m.held_blocks)));
    out.Set("approxBytes", Napi::Number::New(env, static_cast<double>(m.approx_bytes)));
    return out;
  }

  Napi::Value CountersJs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Counters c = ix_->counters();
    auto out = Napi::Object::New(env);
    out.Set("unknownParent", Napi::Number::New(env, static_cast<double>(c.unknown_parent)));
    return out;
  }

  Napi::Value LastEventId(const Napi::CallbackInfo& info) {
    uint64_t ev = 0;
    if (!ix_->watermark(to_u64(info[0], "workerId"), &ev)) return info.Env().Undefined();
    return Napi::BigInt::New(info.Env(), ev);
  }

  Napi::Value WorkerBlocks(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto rows = ix_->worker_blocks();
    auto workers = Napi::TypedArrayOf<uint64_t>::New(env, rows.size(), napi_biguint64_array);
    auto ranks = Napi::Uint32Array::New(env, rows.size());
    auto blocks = Napi::Float64Array::New(env, rows.size());
    for (size_t i = 0; i < rows.size(); i++) {
      workers[i] = rows[i].first.first;
      ranks[i] = rows[i].first.second;
      blocks[i] = static_cast<double>(rows[i].second);
    }
    auto out = Napi::Object::New(env);
    out.Set("workerIds", workers);
    out.Set("dpRanks", ranks);
    out.Set("blocks", blocks);
    return out;
  }

  std::shared_ptr<ConcurrentIndexer> ix_;
  uint32_t id_ = 0;
  std::vector<Match> matches_;
  std::vector<std::pair<uint64_t, uint32_t>> ids_;
};

class KvasirAddon : public Napi::Addon<KvasirAddon> {
 public:
  KvasirAddon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceValue("NativeIndex", NativeIndex::Define(env)),
                             InstanceValue("TransferEngine", define_transfer_engine(env)),
                             InstanceValue("xxh3_64", Napi::Function::New<Xxh3>(env, "xxh3_64")),
                             InstanceValue("hashBlocks", Napi::Function::New<HashBlocks>(env, "hashBlocks")),
                         });
  }
};

}  // namespace
}  // namespace kvasir

using kvasir::KvasirAddon;
NODE_API_ADDON(KvasirAddon)
