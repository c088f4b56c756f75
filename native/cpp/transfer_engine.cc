#include "transfer_engine.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kvasir {

Region::~Region() {
  if (mapping != nullptr) munmap(mapping, size);
}

RegionUse::RegionUse(std::shared_ptr<Region> r) {
  if (!r || !r->alive.load()) return;
  r_ = std::move(r);
  r_->users.fetch_add(1);
  if (!r_->alive.load()) release();
}

RegionUse& RegionUse::operator=(RegionUse&& o) noexcept {
  if (this != &o) {
    release();
    r_ = std::move(o.r_);
  }
  return *this;
}

RegionUse::~RegionUse() { release(); }

void RegionUse::release() {
  if (!r_) return;
  std::shared_ptr<Region> r = std::move(r_);
  r_.reset();
  if (r->users.fetch_sub(1) == 1 && !r->alive.load() && !r->drained_fired.exchange(true) && r->on_drained)
    r->on_drained();
}

JobPool::JobPool(size_t threads) {
  for (size_t i = 0; i < std::max<size_t>(threads, 1); i++) {
    threads_.emplace_back([this] {
      for (;;) {
        std::function<void()> job;
        {
          std::unique_lock<std::mutex> g(mu_);
          cv_.wait(g, [&] { return stop_ || !jobs_.empty(); });
          if (jobs_.empty()) return;
          job = std::move(jobs_.front());
          jobs_.pop_front();
        }
        job();
      }
    });
  }
}

JobPool::~JobPool() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void JobPool::post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> g(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

namespace {

// Copies are split so several streams share them (pieces of at least kMinCopyChunk) and deregistration takes
// effect between pieces (at most kMaxCopyChunk).
constexpr uint64_t kMinCopyChunk = 256 << 10;
constexpr uint64_t kMaxCopyChunk = 4 << 20;
// Memory copies up to this size run on the calling thread: waking pool threads and completing through the
// event loop costs several microseconds, as much as copying the bytes (1 MiB is ~30 us at memcpy speed), and one
// core already copies at memory bandwidth at this size, so streams would not make it faster.
constexpr uint64_t kInlineCopyMax = 1 << 20;
constexpr uint64_t kTcpChunk = 4 << 20;
constexpr int kSocketTimeoutSec = 60;

struct Chunk {
  uint64_t local_offset;
  uint64_t remote_offset;
  uint64_t length;
};

std::vector<Chunk> split(const std::vector<Segment>& segs, uint64_t max) {
  std::vector<Chunk> out;
  for (const Segment& s : segs) {
    for (uint64_t done = 0; done < s.length; done += max) {
      const uint64_t n = std::min(max, s.length - done);
      out.push_back({s.local_offset + done, s.remote_offset + done, n});
    }
  }
  return out;
}

bool in_range(uint64_t offset, uint64_t length, uint64_t size) { return offset <= size && length <= size - offset; }

// Shared state of one transfer: streams take chunks until none are left or one fails; the last stream out
// reports.
struct Job {
  Op op;
  std::shared_ptr<Region> local;
  std::vector<Chunk> chunks;
  std::atomic<size_t> next{0};
  std::atomic<uint32_t> streams_left{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::string error;
  Done done;

  void fail(const std::string& why) {
    std::lock_guard<std::mutex> g(mu);
    if (!failed.exchange(true)) error = why;
  }
  bool take(Chunk* c) {
    if (failed.load()) return false;
    const size_t i = next.fetch_add(1);
    if (i >= chunks.size()) return false;
    *c = chunks[i];
    return true;
  }
  void stream_done() {
    if (streams_left.fetch_sub(1) != 1) return;
    std::string e;
    {
      std::lock_guard<std::mutex> g(mu);
      e = error;
    }
    done(!failed.load(), e);
  }
};

uint32_t stream_count(uint32_t requested, size_t chunks, size_t pool) {
  const size_t s = std::min<size_t>({std::max<uint32_t>(requested, 1), chunks, pool});
  return static_cast<uint32_t>(std::max<size_t>(s, 1));
}

// Memory-to-memory copies: a region of this engine, or a mapped shared-memory file of another process.
class CopyTransport {
 public:
  explicit CopyTransport(JobPool* pool) : pool_(pool) {}
  void run(Op op, std::shared_ptr<Region> local, std::shared_ptr<Region> remote, std::vector<Segment> segs,
           uint32_t streams, Done done) {
    uint64_t total = 0;
    for (const Segment& s : segs) total += s.length;
    if (total <= kInlineCopyMax) return copy_inline(op, std::move(local), std::move(remote), segs, std::move(done));
    auto job = std::make_shared<Job>();
    job->op = op;
    job->local = std::move(local);
    const uint64_t per_stream = (total + std::max<uint32_t>(streams, 1) - 1) / std::max<uint32_t>(streams, 1);
    job->chunks = split(segs, std::min(kMaxCopyChunk, std::max(kMinCopyChunk, per_stream)));
    job->done = std::move(done);
    const uint32_t n = stream_count(streams, job->chunks.size(), pool_->size());
    job->streams_left = n;
    for (uint32_t s = 0; s < n; s++) {
      pool_->post([job, remote] {
        Chunk c;
        while (job->take(&c)) {
          RegionUse lu(job->local);
          RegionUse ru(remote);
          if (!lu.ok() || !ru.ok()) {
            job->fail(!lu.ok() ? "local region was deregistered" : "remote region was deregistered");
            break;
          }
          uint8_t* l = lu->base + c.local_offset;
          uint8_t* r = ru->base + c.remote_offset;
          if (job->op == Op::kRead) {
            std::memmove(l, r, c.length);
          } else {
            std::memmove(r, l, c.length);
          }
        }
        job->stream_done();
      });
    }
  }

 private:
  static void copy_inline(Op op, std::shared_ptr<Region> local, std::shared_ptr<Region> remote,
                          const std::vector<Segment>& segs, Done done) {
    RegionUse lu(std::move(local));
    RegionUse ru(std::move(remote));
    if (!lu.ok() || !ru.ok())
      return done(false, !lu.ok() ? "local region was deregistered" : "remote region was deregistered");
    for (const Segment& s : segs) {
      uint8_t* l = lu->base + s.local_offset;
      uint8_t* r = ru->base + s.remote_offset;
      if (op == Op::kRead) {
        std::memmove(l, r, s.length);
      } else {
        std::memmove(r, l, s.length);
      }
    }
    done(true, "");
  }

  JobPool* pool_;
};

bool send_all(int fd, const uint8_t* p, uint64_t n) {
  while (n > 0) {
    const ssize_t k = ::send(fd, p, std::min<uint64_t>(n, 1 << 30), MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<uint64_t>(k);
  }
  return true;
}

bool recv_all(int fd, uint8_t* p, uint64_t n) {
  while (n > 0) {
    const ssize_t k = ::recv(fd, p, std::min<uint64_t>(n, 1 << 30), 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<uint64_t>(k);
  }
  return true;
}

// Wire format, little-endian. Request: u32 magic, u32 op (1 read, 2 write), u64 region, u64 offset,
// u64 length. Reply: u32 status, u32 zero, u64 length; a read's bytes follow an OK reply; a write's bytes
// follow the OK reply and are acknowledged by a second reply.
constexpr uint32_t kWireMagic = 0x4B565854;
enum Status : uint32_t { kOk = 0, kUnknownRegion = 1, kOutOfRange = 2, kBadRequest = 4 };

struct Request {
  uint32_t magic, op;
  uint64_t region, offset, length;
};
struct Reply {
  uint32_t status, zero;
  uint64_t length;
};
static_assert(sizeof(Request) == 32 && sizeof(Reply) == 16, "wire structs must be packed");

std::string status_text(uint32_t s) {
  switch (s) {
    case kUnknownRegion:
      return "remote region is not registered (or was deregistered)";
    case kOutOfRange:
      return "remote range is outside the region";
    default:
      return "remote rejected the request (status " + std::to_string(s) + ")";
  }
}

void set_socket_options(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  timeval tv{kSocketTimeoutSec, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

class TcpTransport : public Transport {
 public:
  explicit TcpTransport(JobPool* pool) : pool_(pool) {}
  ~TcpTransport() override { shutdown(); }

  void transfer(Op op, std::shared_ptr<Region> local, const std::string& remote, std::vector<Segment> segs,
                uint32_t streams, Done done) override {
    // remote: "<host>:<port>:<region>"
    const size_t a = remote.find(':');
    const size_t b = a == std::string::npos ? a : remote.find(':', a + 1);
    if (b == std::string::npos) return done(false, "bad TCP descriptor '" + remote + "'");
    const std::string host = remote.substr(0, a);
    const int port = std::atoi(remote.substr(a + 1, b - a - 1).c_str());
    const uint64_t region = std::strtoull(remote.c_str() + b + 1, nullptr, 10);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (port <= 0 || port > 65535 || inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(),
                                               &addr.sin_addr) != 1)
      return done(false, "bad TCP address '" + host + ":" + std::to_string(port) + "'");
    auto job = std::make_shared<Job>();
    job->op = op;
    job->local = std::move(local);
    job->chunks = split(segs, kTcpChunk);
    job->done = std::move(done);
    const std::string peer = host + ":" + std::to_string(port);
    const uint32_t n = stream_count(streams, job->chunks.size(), pool_->size());
    job->streams_left = n;
    for (uint32_t s = 0; s < n; s++) {
      pool_->post([this, job, addr, peer, region] { stream(job.get(), addr, peer, region); });
    }
  }

  void interrupt(const Region* local) override {
    std::lock_guard<std::mutex> g(mu_);
    for (const auto& [fd, region] : busy_)
      if (region == local) ::shutdown(fd, SHUT_RDWR);
  }

  void shutdown() override {
    std::lock_guard<std::mutex> g(mu_);
    closed_ = true;
    for (const auto& [fd, region] : busy_) ::shutdown(fd, SHUT_RDWR);
    for (auto& [peer, fds] : idle_)
      for (int fd : fds) ::close(fd);
    idle_.clear();
  }

 private:
  int checkout(const sockaddr_in& addr, const std::string& peer, const Region* local, std::string* error) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (closed_) {
        *error = "transfer engine is closed";
        return -1;
      }
      auto& fds = idle_[peer];
      if (!fds.empty()) {
        const int fd = fds.back();
        fds.pop_back();
        busy_[fd] = local;
        return fd;
      }
    }
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *error = std::string("socket: ") + std::strerror(errno);
      return -1;
    }
    set_socket_options(fd);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
      *error = "cannot connect to " + peer + ": " + std::strerror(errno);
      ::close(fd);
      return -1;
    }
    std::lock_guard<std::mutex> g(mu_);
    if (closed_) {
      ::close(fd);
      *error = "transfer engine is closed";
      return -1;
    }
    busy_[fd] = local;
    return fd;
  }

  void checkin(int fd, const std::string& peer, bool healthy) {
    std::lock_guard<std::mutex> g(mu_);
    busy_.erase(fd);
    if (healthy && !closed_) {
      idle_[peer].push_back(fd);
    } else {
      ::close(fd);
    }
  }

  void stream(Job* job, const sockaddr_in& addr, const std::string& peer, uint64_t region) {
    std::string error;
    const int fd = checkout(addr, peer, job->local.get(), &error);
    if (fd < 0) {
      job->fail(error);
      job->stream_done();
      return;
    }
    bool healthy = true;
    Chunk c;
    while (job->take(&c)) {
      RegionUse lu(job->local);
      if (!lu.ok()) {
        job->fail("local region was deregistered");
        break;
      }
      const Request req{kWireMagic, job->op == Op::kRead ? 1u : 2u, region, c.remote_offset, c.length};
      Reply rep{};
      const std::string lost = "connection to " + peer + " lost";
      if (!send_all(fd, reinterpret_cast<const uint8_t*>(&req), sizeof(req)) ||
          !recv_all(fd, reinterpret_cast<uint8_t*>(&rep), sizeof(rep))) {
        job->fail(lost);
        healthy = false;
        break;
      }
      if (rep.status != kOk) {
        job->fail(status_text(rep.status));
        break;
      }
      uint8_t* mem = lu->base + c.local_offset;
      const bool moved = job->op == Op::kRead ? recv_all(fd, mem, c.length)
                                              : send_all(fd, mem, c.length) &&
                                                    recv_all(fd, reinterpret_cast<uint8_t*>(&rep), sizeof(rep));
      if (!moved) {
        job->fail(lost);
        healthy = false;
        break;
      }
      if (rep.status != kOk) {
        job->fail(status_text(rep.status));
        break;
      }
    }
    checkin(fd, peer, healthy);
    job->stream_done();
  }

  JobPool* pool_;
  std::mutex mu_;
  bool closed_ = false;
  std::map<std::string, std::vector<int>> idle_;
  std::map<int, const Region*> busy_;  // connections in use, by the local region their transfer copies into
};

// Wraps CopyTransport for shared-memory files named in descriptors: maps each file once.
class ShmTransport : public Transport {
 public:
  explicit ShmTransport(JobPool* pool) : copy_(pool) {}

  void transfer(Op op, std::shared_ptr<Region> local, const std::string& remote, std::vector<Segment> segs,
                uint32_t streams, Done done) override {
    // remote: "<size>:<path>"
    const size_t a = remote.find(':');
    if (a == std::string::npos) return done(false, "bad shm descriptor '" + remote + "'");
    const uint64_t size = std::strtoull(remote.substr(0, a).c_str(), nullptr, 10);
    const std::string path = remote.substr(a + 1);
    std::string error;
    std::shared_ptr<Region> r = map(path, size, &error);
    if (!r) return done(false, error);
    for (const Segment& s : segs)
      if (!in_range(s.remote_offset, s.length, size)) return done(false, "remote range is outside the region");
    copy_.run(op, std::move(local), std::move(r), std::move(segs), streams, std::move(done));
  }

  void shutdown() override {
    std::lock_guard<std::mutex> g(mu_);
    maps_.clear();
  }

 private:
  // The mapping of `path`, reused while the path still names the same file (a removed or replaced file must
  // not be written through an old mapping).
  std::shared_ptr<Region> map(const std::string& path, uint64_t size, std::string* error) {
    std::lock_guard<std::mutex> g(mu_);
    struct stat now{};
    if (::stat(path.c_str(), &now) != 0) {
      maps_.erase(path);
      *error = "cannot open shared memory " + path + ": " + std::strerror(errno);
      return nullptr;
    }
    auto it = maps_.find(path);
    if (it != maps_.end() && it->second.region->size >= size && it->second.dev == now.st_dev &&
        it->second.ino == now.st_ino)
      return it->second.region;
    sweep();
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      *error = "cannot open shared memory " + path + ": " + std::strerror(errno);
      return nullptr;
    }
    struct stat st{};
    if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < size || size == 0) {
      ::close(fd);
      *error = "shared memory " + path + " is smaller than its descriptor says";
      return nullptr;
    }
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) {
      *error = "cannot map " + path + ": " + std::strerror(errno);
      return nullptr;
    }
    auto r = std::make_shared<Region>();
    r->base = static_cast<uint8_t*>(p);
    r->size = size;
    r->mapping = p;
    maps_[path] = Mapped{r, st.st_dev, st.st_ino};
    return r;
  }

  // Forgets mappings of files that were removed or replaced: an unlinked file's memory is only returned once
  // every mapping of it is gone (copies in flight keep theirs until they finish). Called with mu_ held.
  void sweep() {
    for (auto it = maps_.begin(); it != maps_.end();) {
      struct stat st{};
      const bool gone = ::stat(it->first.c_str(), &st) != 0 || st.st_dev != it->second.dev ||
                        st.st_ino != it->second.ino;
      it = gone ? maps_.erase(it) : std::next(it);
    }
  }

  struct Mapped {
    std::shared_ptr<Region> region;
    dev_t dev;
    ino_t ino;
  };
  CopyTransport copy_;
  std::mutex mu_;
  std::map<std::string, Mapped> maps_;
};

}  // namespace

TransferEngine::TransferEngine(uint32_t threads)
    : pool_(std::make_unique<JobPool>(threads)),
      shm_(std::make_unique<ShmTransport>(pool_.get())),
      tcp_(std::make_unique<TcpTransport>(pool_.get())) {}

TransferEngine::~TransferEngine() {
  close();
  // Streams still queued fail fast once the transports are shut down; let them finish before the transports go.
  pool_.reset();
}

uint32_t TransferEngine::register_memory(uint8_t* base, uint64_t size) {
  auto r = std::make_shared<Region>();
  r->base = base;
  r->size = size;
  std::lock_guard<std::mutex> g(mu_);
  const uint32_t id = next_region_++;
  regions_[id] = r;
  return id;
}

uint32_t TransferEngine::register_shm_file(const std::string& path, uint64_t size, bool create, std::string* error) {
  if (size == 0) {
    *error = "a shared-memory region needs a size";
    return 0;
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
  if (fd < 0) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return 0;
  }
  struct stat st{};
  if (fstat(fd, &st) != 0) {
    *error = "cannot stat " + path + ": " + std::strerror(errno);
    ::close(fd);
    return 0;
  }
  if (static_cast<uint64_t>(st.st_size) < size && (!create || ftruncate(fd, static_cast<off_t>(size)) != 0)) {
    *error = create ? "cannot size " + path + ": " + std::strerror(errno) : path + " is smaller than the size given";
    ::close(fd);
    return 0;
  }
  // A sparse file on a full tmpfs maps fine and then kills the process with SIGBUS on first write; reserving the
  // pages up front turns that into an error here.
  if (create) {
    const int rc = posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
      *error = "cannot reserve " + std::to_string(size) + " bytes for " + path + ": " + std::strerror(rc);
      ::close(fd);
      ::unlink(path.c_str());
      return 0;
    }
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    *error = "cannot map " + path + ": " + std::strerror(errno);
    return 0;
  }
  auto r = std::make_shared<Region>();
  r->base = static_cast<uint8_t*>(p);
  r->size = size;
  r->mapping = p;
  std::lock_guard<std::mutex> g(mu_);
  const uint32_t id = next_region_++;
  regions_[id] = r;
  return id;
}

bool TransferEngine::deregister(uint32_t id, std::function<void()> drained) {
  std::shared_ptr<Region> r;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = regions_.find(id);
    if (it == regions_.end()) return false;
    r = it->second;
    regions_.erase(it);
  }
  r->on_drained = std::move(drained);
  r->alive.store(false);
  // A TCP stream blocked on a silent peer would hold the region (and a data-path thread) until its socket timeout.
  tcp_->interrupt(r.get());
  if (r->users.load() == 0 && !r->drained_fired.exchange(true) && r->on_drained) r->on_drained();
  return true;
}

std::shared_ptr<Region> TransferEngine::region(uint32_t id) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = regions_.find(id);
  return it == regions_.end() ? nullptr : it->second;
}

int TransferEngine::listen(const std::string& host, uint16_t port, std::string* error) {
  std::lock_guard<std::mutex> g(mu_);
  if (listen_fd_ >= 0) {
    *error = "already listening";
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &addr.sin_addr) != 1) {
    *error = "cannot listen on '" + host + "': not an IPv4 address";
    return -1;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    *error = std::string("cannot listen: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  listen_fd_ = fd;
  accept_thread_ = std::thread([this, fd] {
    for (;;) {
      const int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      set_socket_options(c);
      std::lock_guard<std::mutex> g(mu_);
      if (closed_) {
        ::close(c);
        return;
      }
      server_fds_.insert(c);
      server_threads_.emplace_back([this, c] { serve_connection(c); });
    }
  });
  return ntohs(addr.sin_port);
}

void TransferEngine::serve_connection(int fd) {
  for (;;) {
    Request req{};
    if (!recv_all(fd, reinterpret_cast<uint8_t*>(&req), sizeof(req))) break;
    Reply rep{kOk, 0, req.length};
    if (req.magic != kWireMagic || (req.op != 1 && req.op != 2)) {
      rep.status = kBadRequest;
      send_all(fd, reinterpret_cast<const uint8_t*>(&rep), sizeof(rep));
      break;
    }
    RegionUse use(req.region <= UINT32_MAX ? region(static_cast<uint32_t>(req.region)) : nullptr);
    if (!use.ok()) {
      rep.status = kUnknownRegion;
    } else if (!in_range(req.offset, req.length, use->size)) {
      rep.status = kOutOfRange;
    }
    if (!send_all(fd, reinterpret_cast<const uint8_t*>(&rep), sizeof(rep))) break;
    if (rep.status != kOk) continue;
    uint8_t* mem = use->base + req.offset;
    if (req.op == 1) {
      if (!send_all(fd, mem, req.length)) break;
    } else {
      if (!recv_all(fd, mem, req.length)) break;
      if (!send_all(fd, reinterpret_cast<const uint8_t*>(&rep), sizeof(rep))) break;
    }
  }
  std::lock_guard<std::mutex> g(mu_);
  server_fds_.erase(fd);
  ::close(fd);
}

void TransferEngine::transfer(Op op, uint32_t local_region, const std::string& remote, std::vector<Segment> segs,
                              uint32_t streams, Done done) {
  if (closed_.load()) return done(false, "transfer engine is closed");
  std::shared_ptr<Region> local = region(local_region);
  if (!local) return done(false, "local region " + std::to_string(local_region) + " is not registered");
  for (const Segment& s : segs)
    if (!in_range(s.local_offset, s.length, local->size)) return done(false, "local range is outside the region");
  segs.erase(std::remove_if(segs.begin(), segs.end(), [](const Segment& s) { return s.length == 0; }), segs.end());
  if (segs.empty()) return done(true, "");
  if (remote.rfind("local:", 0) == 0) {
    std::shared_ptr<Region> r = region(static_cast<uint32_t>(std::strtoul(remote.c_str() + 6, nullptr, 10)));
    if (!r) return done(false, "remote region is not registered (or was deregistered)");
    for (const Segment& s : segs)
      if (!in_range(s.remote_offset, s.length, r->size)) return done(false, "remote range is outside the region");
    CopyTransport(pool_.get()).run(op, std::move(local), std::move(r), std::move(segs), streams, std::move(done));
  } else if (remote.rfind("shm:", 0) == 0) {
    shm_->transfer(op, std::move(local), remote.substr(4), std::move(segs), streams, std::move(done));
  } else if (remote.rfind("tcp:", 0) == 0) {
    tcp_->transfer(op, std::move(local), remote.substr(4), std::move(segs), streams, std::move(done));
  } else {
    done(false, "unknown transport in descriptor '" + remote + "'");
  }
}

void TransferEngine::close() {
  if (closed_.exchange(true)) return;
  tcp_->shutdown();
  shm_->shutdown();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
    for (int fd : server_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  {
    std::lock_guard<std::mutex> g(mu_);
    threads.swap(server_threads_);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
  }
  for (auto& t : threads) t.join();
}

}  // namespace kvasir
