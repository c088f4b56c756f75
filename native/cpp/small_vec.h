// A vector of u32 with room for a few elements inline: most blocks are held by one to three workers, so the
// holder set of a block usually needs no heap allocation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

namespace kvasir {

class SmallU32Vec {
 public:
  static constexpr uint32_t kInline = 3;
  SmallU32Vec() = default;
  SmallU32Vec(const SmallU32Vec&) = delete;
  SmallU32Vec& operator=(const SmallU32Vec&) = delete;
  SmallU32Vec(SmallU32Vec&& o) noexcept { take(o); }
  SmallU32Vec& operator=(SmallU32Vec&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  ~SmallU32Vec() { release(); }

  uint32_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint32_t capacity() const { return cap_; }
  const uint32_t* begin() const { return data(); }
  const uint32_t* end() const { return data() + size_; }
  uint32_t* begin() { return data(); }
  uint32_t* end() { return data() + size_; }
  uint32_t back() const { return data()[size_ - 1]; }

  void push_back(uint32_t v) {
    if (size_ == cap_) grow();
    data()[size_++] = v;
  }
  void pop_back() { size_--; }
  void clear() { size_ = 0; }

 private:
  uint32_t* data() { return cap_ > kInline ? heap_ : inline_; }
  const uint32_t* data() const { return cap_ > kInline ? heap_ : inline_; }
  void grow() {
    const uint32_t cap = cap_ * 2;
    auto* p = new uint32_t[cap];
    std::memcpy(p, data(), size_ * sizeof(uint32_t));
    release();
    heap_ = p;
    cap_ = cap;
  }
  void release() {
    if (cap_ > kInline) delete[] heap_;
    cap_ = kInline;
  }
  void take(SmallU32Vec& o) {
    size_ = o.size_;
    cap_ = o.cap_;
    if (cap_ > kInline) {
      heap_ = o.heap_;
    } else {
      std::memcpy(inline_, o.inline_, sizeof(inline_));
    }
    o.cap_ = kInline;
    o.size_ = 0;
  }

  uint32_t size_ = 0;
  uint32_t cap_ = kInline;
  union {
    uint32_t inline_[kInline];
    uint32_t* heap_;
  };
};

}  // namespace kvasir
