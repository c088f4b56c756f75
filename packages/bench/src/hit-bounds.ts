// Upper bounds on the prefix hit rate (cached prompt tokens / prompt tokens) of a trace replayed on engines with
// `engineBlockSize`-token KV blocks: with an infinite cache, with one LRU pool of a given number of blocks, and
// with that pool split into N separate LRU caches (one per worker) that a cache-only router fills.
import { TRACE_BLOCK_TOKENS, type TraceRow } from "./trace.js";

export interface HitBounds {
  promptTokens: number;
  /** Distinct full engine blocks over all rows: the working set an infinite cache would hold. */
  distinctBlocks: number;
  /** Cached tokens with an infinite cache shared by all workers (every earlier prefix is still there). */
  infiniteCacheTokens: number;
  infiniteCacheHitRate: number;
  /** Cached tokens with one LRU pool of `cacheBlocks` blocks (the workers' total cache), when asked for. */
  pooledCacheTokens?: number;
  pooledCacheHitRate?: number;
  cacheBlocks?: number;
  /**
   * Cached tokens with `caches` separate LRU caches of cacheBlocks / caches blocks each, every request sent to the
   * cache holding its longest prefix (a new prefix to the cache its first block hashes to): what routing by cache
   * alone, with no regard to load, would hit. Not a strict bound (another assignment could do better), but the
   * reference for N workers' own caches.
   */
  separateCacheTokens?: number;
  separateCacheHitRate?: number;
  caches?: number;
}

/** How far above the average prefill work a separate cache may be given more (consistent hashing, bounded loads). */
const LOAD_SLACK = 0.25;

/** One LRU cache of `capacity` blocks; Map order is recency order. */
class LruBlocks {
  private readonly lru = new Map<number, true>();
  constructor(private readonly capacity: number) {}

  has(key: number): boolean {
    return this.lru.has(key);
  }

  /** Stores a request's blocks: tail first, so a prefix's head is the last to go, as engines free in reverse. */
  store(keys: readonly number[]): void {
    for (let j = keys.length - 1; j >= 0; j--) {
      const k = keys[j] as number;
      this.lru.delete(k);
      this.lru.set(k, true);
    }
    for (const k of this.lru.keys()) {
      if (this.lru.size <= this.capacity) break;
      this.lru.delete(k);
    }
  }
}

/**
 * Names every full engine block of every row. A block's content depends on the chain of hash_ids up to the trace
 * block it falls in and on its offset inside that trace block, so the key is (chain node, offset).
 */
function engineBlockKeys(rows: readonly TraceRow[], engineBlockSize: number): number[][] {
  if (TRACE_BLOCK_TOKENS % engineBlockSize !== 0) {
    throw new Error(`engine block size ${engineBlockSize} must divide ${TRACE_BLOCK_TOKENS}`);
  }
  const perTraceBlock = TRACE_BLOCK_TOKENS / engineBlockSize;
  const nodes = new Map<string, number>();
  return rows.map((row) => {
    const chain: number[] = [];
    let parent = -1;
    for (const id of row.hashIds) {
      const key = `${parent}:${id}`;
      let node = nodes.get(key);
      if (node === undefined) {
        node = nodes.size;
        nodes.set(key, node);
      }
      chain.push(node);
      parent = node;
    }
    const full = Math.floor(row.inputLength / engineBlockSize);
    const keys: number[] = new Array(full);
    for (let j = 0; j < full; j++) {
      const traceBlock = Math.floor(j / perTraceBlock);
      keys[j] = (chain[traceBlock] as number) * perTraceBlock + (j - traceBlock * perTraceBlock);
    }
    return keys;
  });
}

function leadingHits(keys: readonly number[], has: (key: number) => boolean): number {
  let n = 0;
  while (n < keys.length && has(keys[n] as number)) n++;
  return n;
}

/**
 * Replays rows in order against an infinite cache and, when `cacheBlocks` is given, against one LRU pool and
 * (with `caches` > 1) against that many separate caches sharing the same total.
 */
export function prefixHitBounds(
  rows: readonly TraceRow[],
  opts: { engineBlockSize: number; cacheBlocks?: number; caches?: number },
): HitBounds {
  const keysPerRow = engineBlockKeys(rows, opts.engineBlockSize);
  const bs = opts.engineBlockSize;
  let promptTokens = 0;
  let infinite = 0;
  let pooled = 0;
  let separate = 0;
  const seen = new Set<number>();
  const capacity = opts.cacheBlocks;
  const pool = capacity === undefined ? undefined : new LruBlocks(capacity);
  const n = opts.caches ?? 1;
  const caches =
    capacity === undefined || n <= 1
      ? []
      : Array.from({ length: n }, () => new LruBlocks(Math.floor(capacity / n)));
  // Uncached prompt tokens (prefill work) sent to each separate cache so far.
  const work_ = caches.map(() => 0);
  let workTotal = 0;
  rows.forEach((row, i) => {
    const keys = keysPerRow[i] as number[];
    promptTokens += row.inputLength;
    infinite += leadingHits(keys, (k) => seen.has(k)) * bs;
    for (const k of keys) seen.add(k);
    if (pool === undefined) return;
    pooled += leadingHits(keys, (k) => pool.has(k)) * bs;
    pool.store(keys);
    if (caches.length === 0) return;
    // Longest cached prefix among the caches whose prefill work stays within (1 + ε) of the average once this
    // request is added: consistent hashing with bounded loads, so one hot prefix cannot take every request.
    const hits = caches.map((cache) => leadingHits(keys, (k) => cache.has(k)));
    const work = (c: number) => (work_[c] as number) + row.inputLength - (hits[c] as number) * bs;
    const limit = (1 + LOAD_SLACK) * ((workTotal + row.inputLength) / caches.length);
    let best = -1;
    for (let c = 0; c < caches.length; c++) {
      if (work(c) > limit) continue;
      if (best < 0 || (hits[c] as number) > (hits[best] as number)) best = c;
    }
    if (best < 0) best = hits.indexOf(Math.max(...hits));
    const bestHits = hits[best] as number;
    work_[best] = work(best);
    workTotal += row.inputLength - bestHits * bs;
    separate += bestHits * bs;
    (caches[best] as LruBlocks).store(keys);
  });
  const rate = (tokens: number) => (promptTokens === 0 ? 0 : tokens / promptTokens);
  const bounds: HitBounds = {
    promptTokens,
    distinctBlocks: seen.size,
    infiniteCacheTokens: infinite,
    infiniteCacheHitRate: rate(infinite),
  };
  if (capacity !== undefined) {
    bounds.pooledCacheTokens = pooled;
    bounds.pooledCacheHitRate = rate(pooled);
    bounds.cacheBlocks = capacity;
  }
  if (caches.length > 0) {
    bounds.separateCacheTokens = separate;
    bounds.separateCacheHitRate = rate(separate);
    bounds.caches = caches.length;
  }
  return bounds;
}
