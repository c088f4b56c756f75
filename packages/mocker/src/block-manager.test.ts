import { describe, expect, it } from "vitest";
import { type CachedBlockInfo, type KvBlock, KvBlockManager } from "./block-manager.js";

function manager(numBlocks: number) {
  const stored: bigint[] = [];
  const removed: bigint[] = [];
  const bm = new KvBlockManager(numBlocks, {
    stored: (info) => stored.push(info.seqHash),
    removed: (hash) => removed.push(hash),
  });
  return { bm, stored, removed };
}

function info(seqHash: bigint): CachedBlockInfo {
  return { seqHash, localHash: seqHash, parentSeqHash: undefined, tokenIds: [1, 2], loraName: "" };
}

/** Allocates one block per hash and caches it, as a request computing those full blocks would. */
function cacheChain(bm: KvBlockManager, hashes: bigint[]): KvBlock[] {
  return hashes.map((h) => {
    const block = bm.allocate();
    if (!block) throw new Error("out of blocks");
    bm.cache(block, info(h));
    return block;
  });
}

describe("KvBlockManager", () => {
  it("counts held blocks as active and released ones as free", () => {
    const { bm } = manager(8);
    const blocks = cacheChain(bm, [1n, 2n, 3n]);
    expect(bm.numActive).toBe(3);
    bm.release(blocks);
    expect(bm.numActive).toBe(0);
    expect(bm.numFree).toBe(8);
    expect(bm.numCached).toBe(3);
  });

  it("takes never-cached free blocks before evicting cached ones", () => {
    const { bm, removed } = manager(4);
    bm.release(cacheChain(bm, [1n, 2n]));
    const fresh = [bm.allocate(), bm.allocate()];
    expect(fresh.every((b) => b !== undefined)).toBe(true);
    expect(removed).toEqual([]);
    expect(bm.numCached).toBe(2);
  });

  it("evicts least recently released first, a request's tail before its prefix", () => {
    const { bm, removed } = manager(6);
    const a = cacheChain(bm, [11n, 12n, 13n]);
    const b = cacheChain(bm, [21n, 22n, 23n]);
    bm.release(a);
    bm.release(b);
    expect(bm.evictionOrder()).toEqual([13n, 12n, 11n, 23n, 22n, 21n]);
    for (let i = 0; i < 4; i++) bm.allocate();
    expect(removed).toEqual([13n, 12n, 11n, 23n]);
    expect(bm.cachedHashes().sort()).toEqual([21n, 22n]);
  });

  it("a prefix hit refreshes the block's place in the LRU order", () => {
    const { bm, removed } = manager(4);
    bm.release(cacheChain(bm, [1n]));
    bm.release(cacheChain(bm, [2n]));
    bm.release(cacheChain(bm, [3n]));
    bm.release(cacheChain(bm, [4n]));
    const hit = bm.acquireCached(1n);
    bm.release([hit]);
    bm.allocate();
    bm.allocate();
    expect(removed).toEqual([2n, 3n]);
  });

  it("never evicts a block a request holds", () => {
    const { bm } = manager(2);
    const held = cacheChain(bm, [1n, 2n]);
    expect(bm.allocate()).toBeUndefined();
    bm.release([held[1] as KvBlock]);
    expect(bm.allocate()).toBeDefined();
    expect(bm.cachedHashes()).toEqual([1n]);
  });

  it("shares a cached block between requests until the last reference goes", () => {
    const { bm } = manager(2);
    const [block] = cacheChain(bm, [7n]);
    const again = bm.acquireCached(7n);
    expect(again).toBe(block);
    expect(bm.numActive).toBe(1);
    bm.release([block as KvBlock]);
    expect(bm.evictionOrder()).toEqual([]);
    bm.release([again]);
    expect(bm.evictionOrder()).toEqual([7n]);
  });

  it("keeps a single cached copy (and event) when two blocks compute the same hash", () => {
    const { bm, stored } = manager(4);
    const first = bm.allocate() as KvBlock;
    const second = bm.allocate() as KvBlock;
    bm.cache(first, info(5n));
    bm.cache(second, info(5n));
    expect(stored).toEqual([5n]);
    bm.release([second]);
    expect(bm.numFree).toBe(3);
    expect(bm.evictionOrder()).toEqual([]);
  });

  it("clear() forgets every hash and frees unheld blocks", () => {
    const { bm } = manager(4);
    const held = cacheChain(bm, [1n]);
    bm.release(cacheChain(bm, [2n]));
    bm.clear();
    expect(bm.numCached).toBe(0);
    expect(bm.numFree).toBe(3);
    bm.release(held);
    expect(bm.numFree).toBe(4);
    expect(bm.evictionOrder()).toEqual([]);
  });
});
