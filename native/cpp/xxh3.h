// XXH3-64 with seed, written from the published XXH3 specification (no xxhash sources).
#pragma once
#include <cstddef>
#include <cstdint>

namespace kvasir {

uint64_t xxh3_64(const uint8_t* data, size_t len, uint64_t seed);

// XXH3-64 of two little-endian u64 (16 bytes): the sequence-hash step, without a byte buffer.
uint64_t xxh3_64_two_words(uint64_t a, uint64_t b, uint64_t seed);

constexpr uint64_t kKvHashSeed = 1337;

// seq[i] = XXH3-64(le_u64(seq[i-1]) || le_u64(local[i]), 1337); seq[0] = local[0].
inline uint64_t next_seq_hash(uint64_t parent_seq, uint64_t local) {
  return xxh3_64_two_words(parent_seq, local, kKvHashSeed);
}

// Local hashes of every full block of u32 tokens (hashed as little-endian bytes) and their sequence hashes.
void hash_blocks(const uint32_t* tokens, size_t n_tokens, size_t block_size, uint64_t seed, uint64_t* local_out,
                 uint64_t* seq_out);

}  // namespace kvasir
