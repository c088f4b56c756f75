// Upper bounds on the prefix hit rate (cached prompt tokens / prompt tokens) of a trace replayed on engines with
// `engineBlockSize`-token KV blocks: with an infinite cache, and with one LRU pool of a given number of blocks.
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

/** Replays rows in order against an infinite cache and, when `cacheBlocks` is given, against one LRU pool. */
export function prefixHitBounds(
  rows: readonly TraceRow[],
  opts: { engineBlockSize: number; cacheBlocks?: number },
): HitBounds {
  const keysPerRow = engineBlockKeys(rows, opts.engineBlockSize);
  const bs = opts.engineBlockSize;
  let promptTokens = 0;
  let infinite = 0;
  let pooled = 0;
  const seen = new Set<number>();
  // Map iteration order is insertion order, so deleting and re-inserting a key makes it the most recently used.
  const lru = new Map<number, true>();
  const capacity = opts.cacheBlocks;
  rows.forEach((row, i) => {
    const keys = keysPerRow[i] as number[];
    promptTokens += row.inputLength;
    infinite += leadingHits(keys, (k) => seen.has(k)) * bs;
    for (const k of keys) seen.add(k);
    if (capacity === undefined) return;
    pooled += leadingHits(keys, (k) => lru.has(k)) * bs;
    // Touch tail first so a prefix's head is the last to go, as engines free a sequence's blocks in reverse.
    for (let j = keys.length - 1; j >= 0; j--) {
      const k = keys[j] as number;
      lru.delete(k);
      lru.set(k, true);
    }
    for (const k of lru.keys()) {
      if (lru.size <= capacity) break;
      lru.delete(k);
    }
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
  return bounds;
}
