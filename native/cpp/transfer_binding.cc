#include "transfer_binding.h"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "transfer_engine.h"

namespace kvasir {
namespace {

// Deferreds waiting for native completion; touched on the JavaScript thread only.
struct Pending {
  std::unordered_map<uint64_t, Napi::Promise::Deferred> deferreds;
  uint64_t next = 1;
  Napi::ThreadSafeFunction tsfn;
};

struct Completion {
  uint64_t id;
  bool ok;
  std::string error;
};

class TransferEngineWrap : public Napi::ObjectWrap<TransferEngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TransferEngine",
                       {
                           InstanceMethod<&TransferEngineWrap::RegisterMemory>("registerMemory"),
                           InstanceMethod<&TransferEngineWrap::RegisterShmFile>("registerShmFile"),
                           InstanceMethod<&TransferEngineWrap::Deregister>("deregister"),
                           InstanceMethod<&TransferEngineWrap::RegionSize>("regionSize"),
                           InstanceMethod<&TransferEngineWrap::RegionView>("regionView"),
                           InstanceMethod<&TransferEngineWrap::Listen>("listen"),
                           InstanceMethod<&TransferEngineWrap::Transfer>("transfer"),
                           InstanceMethod<&TransferEngineWrap::Close>("close"),
                       });
  }

  explicit TransferEngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TransferEngineWrap>(info) {
    Napi::Env env = info.Env();
    const uint32_t threads = info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 4;
    engine_ = std::make_unique<TransferEngine>(threads == 0 ? 4 : threads);
    pending_ = std::make_shared<Pending>();
    auto noop = Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
    pending_->tsfn = Napi::ThreadSafeFunction::New(env, noop, "kvasir-transfer", 0, 1);
    pending_->tsfn.Unref(env);
  }

  ~TransferEngineWrap() override {
    if (engine_) engine_->close();
    engine_.reset();
    if (!released_) pending_->tsfn.Abort();
  }

 private:
  // A native call's completion: settled straight away when the call completed before returning to JavaScript
  // (an inline copy, an error), else through the thread-safe function from whichever thread finishes it.
  struct Outcome {
    std::mutex mu;
    bool returned = false;  // the native call has returned; later completions go through the event loop
    bool done = false;
    bool ok = false;
    std::string error;
  };

  // A new promise, the callback that settles it from any thread, and the step to run once the native call that
  // was given the callback has returned.
  struct Tracked {
    Napi::Promise promise;
    std::function<void(bool, const std::string&)> settle;
    std::function<void(Napi::Env)> returned;
  };

  Tracked track(Napi::Env env) {
    auto d = Napi::Promise::Deferred::New(env);
    const uint64_t id = pending_->next++;
    if (pending_->deferreds.empty()) pending_->tsfn.Ref(env);
    pending_->deferreds.emplace(id, d);
    std::shared_ptr<Pending> p = pending_;
    auto outcome = std::make_shared<Outcome>();
    auto settle = [p, id, outcome](bool ok, const std::string& error) {
      {
        std::lock_guard<std::mutex> g(outcome->mu);
        if (!outcome->returned) {
          outcome->done = true;
          outcome->ok = ok;
          outcome->error = error;
          return;
        }
      }
      auto* c = new Completion{id, ok, error};
      const napi_status s = p->tsfn.BlockingCall(c, [p](Napi::Env env, Napi::Function, Completion* c) {
        settle_now(p, env, c->id, c->ok, c->error);
        delete c;
      });
      if (s != napi_ok) delete c;
    };
    auto returned = [p, id, outcome](Napi::Env env) {
      std::lock_guard<std::mutex> g(outcome->mu);
      outcome->returned = true;
      if (outcome->done) settle_now(p, env, id, outcome->ok, outcome->error);
    };
    return {d.Promise(), settle, returned};
  }

  static void settle_now(const std::shared_ptr<Pending>& p, Napi::Env env, uint64_t id, bool ok,
                         const std::string& error) {
    auto it = p->deferreds.find(id);
    if (it == p->deferreds.end()) return;
    Napi::Promise::Deferred d = it->second;
    p->deferreds.erase(it);
    if (p->deferreds.empty()) p->tsfn.Unref(env);
    if (ok) {
      d.Resolve(env.Undefined());
    } else {
      d.Reject(Napi::Error::New(env, error).Value());
    }
  }

  void check_open(Napi::Env env) {
    if (!engine_ || released_) throw Napi::Error::New(env, "transfer engine is closed");
  }

  Napi::Value RegisterMemory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env);
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw Napi::TypeError::New(env, "memory must be a Uint8Array");
    // Data() comes from napi_get_typedarray_info, which also covers SharedArrayBuffer-backed arrays.
    auto ta = info[0].As<Napi::Uint8Array>();
    return Napi::Number::New(env, engine_->register_memory(ta.Data(), ta.ByteLength()));
  }

  Napi::Value RegisterShmFile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env);
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    const double size = info[1].As<Napi::Number>().DoubleValue();
    const bool create = info[2].ToBoolean().Value();
    if (!(size > 0)) throw Napi::RangeError::New(env, "size must be positive");
    std::string error;
    const uint32_t id = engine_->register_shm_file(path, static_cast<uint64_t>(size), create, &error);
    if (id == 0) throw Napi::Error::New(env, error);
    return Napi::Number::New(env, id);
  }

  Napi::Value Deregister(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env);
    const uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    Tracked t = track(env);
    if (!engine_->deregister(id, [settle = t.settle] { settle(true, ""); }))
      t.settle(false, "region " + std::to_string(id) + " is not registered");
    t.returned(env);
    return t.promise;
  }

  Napi::Value RegionSize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env);
    auto r = engine_->region(info[0].As<Napi::Number>().Uint32Value());
    if (!r) throw Napi::Error::New(env, "region is not registered");
    return Napi::Number::New(env, static_cast<double>(r->size));
  }

  // An ArrayBuffer over a region's memory (for mapped shared-memory files); the mapping outlives the
  // deregistration until the buffer is collected.
  Napi::Value RegionView(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env);
    auto r = engine_->region(info[0].As<Napi::Number>().Uint32Value());
    if (!r) throw Napi::Error::New(env, "region is not registered");
    auto* hold = new std::shared_ptr<Region>(r);
    return Napi::ArrayBuffer::New(
        env, r->base, r->size, [](Napi::Env, void*, std::shared_ptr<Region>* h) { delete h; }, hold);
  }

  Napi::Value Listen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env);
    const uint32_t port = info[0].As<Napi::Number>().Uint32Value();
    if (port > 65535) throw Napi::RangeError::New(env, "port out of range");
    const std::string host = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "127.0.0.1";
    std::string error;
    const int bound = engine_->listen(host, static_cast<uint16_t>(port), &error);
    if (bound < 0) throw Napi::Error::New(env, error);
    return Napi::Number::New(env, bound);
  }

  // transfer(op, localRegion, remote, segments: Float64Array of (local offset, remote offset, length), streams)
  Napi::Value Transfer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env);
    const std::string op = info[0].As<Napi::String>().Utf8Value();
    if (op != "read" && op != "write") throw Napi::TypeError::New(env, "op must be 'read' or 'write'");
    const uint32_t local = info[1].As<Napi::Number>().Uint32Value();
    const std::string remote = info[2].As<Napi::String>().Utf8Value();
    if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      throw Napi::TypeError::New(env, "segments must be a Float64Array");
    auto segs = info[3].As<Napi::Float64Array>();
    if (segs.ElementLength() % 3 != 0) throw Napi::RangeError::New(env, "segments come in triples");
    std::vector<Segment> list;
    for (size_t i = 0; i < segs.ElementLength(); i += 3) {
      const double a = segs[i], b = segs[i + 1], c = segs[i + 2];
      if (!(a >= 0 && b >= 0 && c >= 0) || a > 9007199254740991.0 || b > 9007199254740991.0 ||
          c > 9007199254740991.0)
        throw Napi::RangeError::New(env, "segment offsets and lengths must be non-negative integers");
      list.push_back({static_cast<uint64_t>(a), static_cast<uint64_t>(b), static_cast<uint64_t>(c)});
    }
    const uint32_t streams = info[4].IsNumber() ? info[4].As<Napi::Number>().Uint32Value() : 4;
    Tracked t = track(env);
    engine_->transfer(op == "read" ? Op::kRead : Op::kWrite, local, remote, std::move(list), streams, t.settle);
    t.returned(env);
    return t.promise;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (engine_) {
      // Fails in-flight transfers and joins the native threads; their completions are already queued.
      engine_->close();
      engine_.reset();
    }
    if (!released_) {
      released_ = true;
      pending_->tsfn.Release();
    }
    return info.Env().Undefined();
  }

  std::unique_ptr<TransferEngine> engine_;
  std::shared_ptr<Pending> pending_;
  bool released_ = false;
};

}  // namespace

Napi::Function define_transfer_engine(Napi::Env env) { return TransferEngineWrap::Define(env); }

}  // namespace kvasir
