// Block transfer engine: registered memory regions and byte movement between them over pluggable transports
// (shared memory on one host, TCP between hosts). All data movement runs on native threads.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace kvasir {

// One contiguous byte range: JavaScript memory (kept alive by the binding) or a mapped shared-memory file.
struct Region {
  uint8_t* base = nullptr;
  uint64_t size = 0;
  void* mapping = nullptr;  // non-null when the engine mapped a file and must unmap it
  std::atomic<bool> alive{true};
  std::atomic<int64_t> users{0};
  std::atomic<bool> drained_fired{false};
  std::function<void()> on_drained;  // set by deregister: runs when the last in-flight user leaves
  std::mutex mu;
  ~Region();
};

// Holds a region for the duration of one copy; a deregistered region cannot be acquired.
class RegionUse {
 public:
  RegionUse() = default;
  explicit RegionUse(std::shared_ptr<Region> r);
  RegionUse(RegionUse&& o) noexcept : r_(std::move(o.r_)) {}
  RegionUse& operator=(RegionUse&& o) noexcept;
  ~RegionUse();
  bool ok() const { return r_ != nullptr; }
  Region* operator->() const { return r_.get(); }

 private:
  void release();
  std::shared_ptr<Region> r_;
};

struct Segment {
  uint64_t local_offset;
  uint64_t remote_offset;
  uint64_t length;
};

enum class Op { kRead, kWrite };  // read: remote -> local; write: local -> remote

using Done = std::function<void(bool ok, const std::string& error)>;

// Runs jobs on a fixed set of native threads.
class JobPool {
 public:
  explicit JobPool(size_t threads);
  ~JobPool();
  void post(std::function<void()> job);
  size_t size() const { return threads_.size(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// What a transport does: move the segments between a local region and one remote region, on several streams,
// and call `done` exactly once from any thread. A NIXL (RDMA) backend would be a third implementation.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void transfer(Op op, std::shared_ptr<Region> local, const std::string& remote,
                        std::vector<Segment> segments, uint32_t streams, Done done) = 0;
  // Fails every transfer in flight and refuses new ones.
  virtual void shutdown() = 0;
  // Fails the transfers in flight that copy into or out of `local` (it is being deregistered).
  virtual void interrupt(const Region* /*local*/) {}
};

class TransferEngine {
 public:
  explicit TransferEngine(uint32_t threads);
  ~TransferEngine();

  uint32_t register_memory(uint8_t* base, uint64_t size);
  // Maps a shared-memory file (created with `size` bytes when `create`); returns 0 with `error` set on failure.
  uint32_t register_shm_file(const std::string& path, uint64_t size, bool create, std::string* error);
  // Marks the region dead and forgets it, failing TCP copies in flight on it; `drained` runs once no copy uses it any
  // more (maybe right away).
  bool deregister(uint32_t id, std::function<void()> drained);
  std::shared_ptr<Region> region(uint32_t id);

  // Starts the TCP server on the IPv4 address `host` (0.0.0.0 for every interface); returns the bound port or -1
  // with `error` set.
  int listen(const std::string& host, uint16_t port, std::string* error);

  // remote: "local:<region>", "shm:<size>:<path>" or "tcp:<host>:<port>:<region>".
  void transfer(Op op, uint32_t local_region, const std::string& remote, std::vector<Segment> segments,
                uint32_t streams, Done done);
  void close();

 private:
  void serve_connection(int fd);
  std::mutex mu_;
  std::map<uint32_t, std::shared_ptr<Region>> regions_;
  uint32_t next_region_ = 1;
  std::unique_ptr<JobPool> pool_;
  std::unique_ptr<Transport> shm_;
  std::unique_ptr<Transport> tcp_;
  int listen_fd_ = -1;
  std::thread accept_thread_;
  std::set<int> server_fds_;
  std::vector<std::thread> server_threads_;
  std::atomic<bool> closed_{false};
};

}  // namespace kvasir
