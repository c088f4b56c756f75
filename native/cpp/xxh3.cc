// XXH3-64, following the XXH3 specification's length classes: 0, 1-3, 4-8, 9-16, 17-128, 129-240 and long
// inputs (stripes of 64 bytes, accumulators scrambled every 1024 bytes).
#include "xxh3.h"

#include <cstring>
#include <vector>

namespace kvasir {
namespace {

constexpr uint32_t P32_1 = 0x9E3779B1U;
constexpr uint32_t P32_2 = 0x85EBCA77U;
constexpr uint32_t P32_3 = 0xC2B2AE3DU;
constexpr uint64_t P64_1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t P64_2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t P64_3 = 0x165667B19E3779F9ULL;
constexpr uint64_t P64_4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t P64_5 = 0x27D4EB2F165667C5ULL;
constexpr uint64_t MIX1 = 0x165667919E3779F9ULL;
constexpr uint64_t MIX2 = 0x9FB21C651E98DF25ULL;

constexpr size_t kSecretSize = 192;
constexpr size_t kStripeLen = 64;
constexpr size_t kStripesPerBlock = (kSecretSize - kStripeLen) / 8;
constexpr size_t kBlockLen = kStripeLen * kStripesPerBlock;

// The default secret, as listed in the specification.
alignas(64) constexpr uint8_t kSecret[kSecretSize] = {
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c, 0xde, 0xd4,
    0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f, 0xcb, 0x79, 0xe6, 0x4e,
    0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21, 0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43,
    0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c, 0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb,
    0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3, 0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19,
    0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8, 0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7,
    0xc7, 0x0b, 0x4f, 0x1d, 0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78,
    0x73, 0x64, 0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e, 0x2b, 0x16,
    0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce, 0x45, 0xcb, 0x3a, 0x8f,
    0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
};

inline uint64_t rd64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

inline uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  return v;
}

inline void wr64(uint8_t* p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  std::memcpy(p, &v, 8);
}

inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t mul128_fold64(uint64_t a, uint64_t b) {
  const __uint128_t p = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
}

inline uint64_t xxh64_avalanche(uint64_t h) {
  h ^= h >> 33;
  h *= P64_2;
  h ^= h >> 29;
  h *= P64_3;
  h ^= h >> 32;
  return h;
}

inline uint64_t avalanche(uint64_t h) {
  h ^= h >> 37;
  h *= MIX1;
  h ^= h >> 32;
  return h;
}

inline uint64_t rrmxmx(uint64_t h, uint64_t len) {
  h ^= rotl64(h, 49) ^ rotl64(h, 24);
  h *= MIX2;
  h ^= (h >> 35) + len;
  h *= MIX2;
  return h ^ (h >> 28);
}

inline uint64_t mix16(const uint8_t* in, const uint8_t* sec, uint64_t seed) {
  return mul128_fold64(rd64(in) ^ (rd64(sec) + seed), rd64(in + 8) ^ (rd64(sec + 8) - seed));
}

uint64_t len_1to3(const uint8_t* in, size_t len, uint64_t seed) {
  const uint32_t c1 = in[0];
  const uint32_t c2 = in[len >> 1];
  const uint32_t c3 = in[len - 1];
  const uint32_t combined = (c1 << 16) | (c2 << 24) | c3 | (static_cast<uint32_t>(len) << 8);
  const uint64_t bitflip = (rd32(kSecret) ^ rd32(kSecret + 4)) + seed;
  return xxh64_avalanche(static_cast<uint64_t>(combined) ^ bitflip);
}

uint64_t len_4to8(const uint8_t* in, size_t len, uint64_t seed) {
  seed ^= static_cast<uint64_t>(__builtin_bswap32(static_cast<uint32_t>(seed))) << 32;
  const uint32_t lo = rd32(in);
  const uint32_t hi = rd32(in + len - 4);
  const uint64_t bitflip = (rd64(kSecret + 8) ^ rd64(kSecret + 16)) - seed;
  const uint64_t v = static_cast<uint64_t>(hi) + (static_cast<uint64_t>(lo) << 32);
  return rrmxmx(v ^ bitflip, len);
}

inline uint64_t len_9to16_words(uint64_t first, uint64_t last, size_t len, uint64_t seed) {
  const uint64_t bitflip1 = (rd64(kSecret + 24) ^ rd64(kSecret + 32)) + seed;
  const uint64_t bitflip2 = (rd64(kSecret + 40) ^ rd64(kSecret + 48)) - seed;
  const uint64_t lo = first ^ bitflip1;
  const uint64_t hi = last ^ bitflip2;
  const uint64_t acc = len + __builtin_bswap64(lo) + hi + mul128_fold64(lo, hi);
  return avalanche(acc);
}

uint64_t len_17to128(const uint8_t* in, size_t len, uint64_t seed) {
  uint64_t acc = len * P64_1;
  if (len > 32) {
    if (len > 64) {
      if (len > 96) {
        acc += mix16(in + 48, kSecret + 96, seed);
        acc += mix16(in + len - 64, kSecret + 112, seed);
      }
      acc += mix16(in + 32, kSecret + 64, seed);
      acc += mix16(in + len - 48, kSecret + 80, seed);
    }
    acc += mix16(in + 16, kSecret + 32, seed);
    acc += mix16(in + len - 32, kSecret + 48, seed);
  }
  acc += mix16(in, kSecret, seed);
  acc += mix16(in + len - 16, kSecret + 16, seed);
  return avalanche(acc);
}

uint64_t len_129to240(const uint8_t* in, size_t len, uint64_t seed) {
  constexpr size_t kStartOffset = 3;
  constexpr size_t kLastOffset = 17;
  constexpr size_t kSecretSizeMin = 136;
  uint64_t acc = len * P64_1;
  const size_t rounds = len / 16;
  for (size_t i = 0; i < 8; i++) acc += mix16(in + 16 * i, kSecret + 16 * i, seed);
  acc = avalanche(acc);
  for (size_t i = 8; i < rounds; i++) acc += mix16(in + 16 * i, kSecret + 16 * (i - 8) + kStartOffset, seed);
  acc += mix16(in + len - 16, kSecret + kSecretSizeMin - kLastOffset, seed);
  return avalanche(acc);
}

inline void accumulate_512(uint64_t* acc, const uint8_t* in, const uint8_t* sec) {
  for (size_t i = 0; i < 8; i++) {
    const uint64_t v = rd64(in + 8 * i);
    const uint64_t k = v ^ rd64(sec + 8 * i);
    acc[i ^ 1] += v;
    acc[i] += static_cast<uint64_t>(static_cast<uint32_t>(k)) * (k >> 32);
  }
}

inline void scramble(uint64_t* acc, const uint8_t* sec) {
  for (size_t i = 0; i < 8; i++) {
    uint64_t a = acc[i];
    a ^= a >> 47;
    a ^= rd64(sec + 8 * i);
    a *= P32_1;
    acc[i] = a;
  }
}

uint64_t hash_long(const uint8_t* in, size_t len, uint64_t seed) {
  alignas(64) uint8_t secret[kSecretSize];
  for (size_t i = 0; i < kSecretSize / 16; i++) {
    wr64(secret + 16 * i, rd64(kSecret + 16 * i) + seed);
    wr64(secret + 16 * i + 8, rd64(kSecret + 16 * i + 8) - seed);
  }
  uint64_t acc[8] = {P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1};
  const size_t blocks = (len - 1) / kBlockLen;
  for (size_t b = 0; b < blocks; b++) {
    const uint8_t* blk = in + b * kBlockLen;
    for (size_t s = 0; s < kStripesPerBlock; s++) accumulate_512(acc, blk + s * kStripeLen, secret + s * 8);
    scramble(acc, secret + kSecretSize - kStripeLen);
  }
  const size_t stripes = ((len - 1) - kBlockLen * blocks) / kStripeLen;
  const uint8_t* tail = in + blocks * kBlockLen;
  for (size_t s = 0; s < stripes; s++) accumulate_512(acc, tail + s * kStripeLen, secret + s * 8);
  constexpr size_t kLastAccStart = 7;
  accumulate_512(acc, in + len - kStripeLen, secret + kSecretSize - kStripeLen - kLastAccStart);
  constexpr size_t kMergeAccsStart = 11;
  uint64_t result = len * P64_1;
  for (size_t i = 0; i < 4; i++) {
    const uint8_t* s = secret + kMergeAccsStart + 16 * i;
    result += mul128_fold64(acc[2 * i] ^ rd64(s), acc[2 * i + 1] ^ rd64(s + 8));
  }
  return avalanche(result);
}

}  // namespace

uint64_t xxh3_64(const uint8_t* data, size_t len, uint64_t seed) {
  if (len == 0) return xxh64_avalanche(seed ^ (rd64(kSecret + 56) ^ rd64(kSecret + 64)));
  if (len <= 3) return len_1to3(data, len, seed);
  if (len <= 8) return len_4to8(data, len, seed);
  if (len <= 16) return len_9to16_words(rd64(data), rd64(data + len - 8), len, seed);
  if (len <= 128) return len_17to128(data, len, seed);
  if (len <= 240) return len_129to240(data, len, seed);
  return hash_long(data, len, seed);
}

uint64_t xxh3_64_two_words(uint64_t a, uint64_t b, uint64_t seed) { return len_9to16_words(a, b, 16, seed); }

void hash_blocks(const uint32_t* tokens, size_t n_tokens, size_t block_size, uint64_t seed, uint64_t* local_out,
                 uint64_t* seq_out) {
  const size_t blocks = block_size == 0 ? 0 : n_tokens / block_size;
  const size_t bytes = block_size * 4;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  std::vector<uint8_t> le(bytes);
#endif
  for (size_t b = 0; b < blocks; b++) {
    const uint32_t* blk = tokens + b * block_size;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < block_size; i++) {
      const uint32_t t = __builtin_bswap32(blk[i]);
      std::memcpy(le.data() + 4 * i, &t, 4);
    }
    local_out[b] = xxh3_64(le.data(), bytes, seed);
#else
    local_out[b] = xxh3_64(reinterpret_cast<const uint8_t*>(blk), bytes, seed);
#endif
    seq_out[b] = b == 0 ? local_out[0] : next_seq_hash(seq_out[b - 1], local_out[b]);
  }
}

}  // namespace kvasir
