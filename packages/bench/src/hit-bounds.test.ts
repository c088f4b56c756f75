import { describe, expect, it } from "vitest";
import { prefixHitBounds } from "./hit-bounds.js";

const row = (hashIds: number[], inputLength: number) => ({
  timestamp: 0,
  inputLength,
  outputLength: 1,
  hashIds,
});

describe("prefixHitBounds", () => {
  it("counts the full engine blocks of the longest prefix seen before", () => {
    // Row 2 shares trace block 0 and the first 200 tokens of block 1 (row 1 stopped there): 512 + 192 tokens in
    // 64-token blocks. Row 3 repeats id 1 under another parent, so its tokens are a different chain: no hit.
    const rows = [row([0, 1], 712), row([0, 1, 2], 1400), row([5, 1], 1024)];
    const b = prefixHitBounds(rows, { engineBlockSize: 64 });
    expect(b.promptTokens).toBe(712 + 1400 + 1024);
    expect(b.infiniteCacheTokens).toBe(512 + 192);
    // Row 1: 11 blocks; row 2 adds 21 - 11 = 10 new ones; row 3: 16 blocks of a new chain.
    expect(b.distinctBlocks).toBe(11 + 10 + 16);
  });

  it("a pooled LRU cache keeps recent prefixes and loses old ones", () => {
    const rows = [row([0], 512), row([1], 512), row([0], 512), row([2], 512), row([3], 512), row([1], 512)];
    // 512-token engine blocks: one block per row; a two-block pool holds the last two distinct rows.
    const b = prefixHitBounds(rows, { engineBlockSize: 512, cacheBlocks: 2 });
    expect(b.infiniteCacheTokens).toBe(2 * 512);
    expect(b.pooledCacheTokens).toBe(512);
    expect(b.pooledCacheHitRate).toBeCloseTo(1 / 6);
  });

  it("evicts a prefix's tail before its head", () => {
    // Pool of 3 blocks of 256 tokens: row 1 holds [a0 a1 b0 b1] minus the LRU one; the head must survive.
    const rows = [row([0, 1], 1024), row([0, 2], 1024)];
    const b = prefixHitBounds(rows, { engineBlockSize: 256, cacheBlocks: 3 });
    expect(b.pooledCacheTokens).toBe(512);
  });

  it("separate caches split the pool: a prefix hits only in the cache it was sent to", () => {
    // Two caches of one 512-token block each; a new prefix goes to the cache its first block hashes to (chain
    // nodes 0, 1, 2 in order of appearance: caches 0, 1, 0). Prefix 0 returns to cache 0 and hits; prefix 7 then
    // evicts it there, while one two-block pool would have kept it over the older prefix 5.
    const rows = [row([0], 512), row([5], 512), row([0], 512), row([7], 512), row([0], 512)];
    const b = prefixHitBounds(rows, { engineBlockSize: 512, cacheBlocks: 2, caches: 2 });
    expect(b.caches).toBe(2);
    expect(b.separateCacheTokens).toBe(512);
    expect(b.pooledCacheTokens).toBe(2 * 512);
    expect(
      prefixHitBounds(rows, { engineBlockSize: 512, cacheBlocks: 2 }).separateCacheHitRate,
    ).toBeUndefined();
  });

  it("rejects an engine block size that does not divide the trace block", () => {
    expect(() => prefixHitBounds([row([0], 512)], { engineBlockSize: 48 })).toThrow(/divide/);
  });
});
