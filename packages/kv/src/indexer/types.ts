// The interface every KV indexer implements: the TypeScript radix tree (reference), the approximate one, and
// the native one in native/.
import type { KvCacheEvent } from "../events.js";

/** How many leading blocks of a request one (worker, dp rank) holds. */
export interface WorkerMatch {
  workerId: bigint;
  dpRank: number;
  /** Block i counts only if blocks 0..i are all held (prefix semantics). */
  matchedBlocks: number;
}

export interface KvIndexer {
  applyEvent(ev: KvCacheEvent): void;
  /** Matches for a request's local block hashes, in prefix order; only workers with at least one block. */
  findMatches(localHashes: BigUint64Array): WorkerMatch[];
  /** Forgets every dp rank of a worker. */
  removeWorker(workerId: bigint): void;
  clear(): void;
}

/** Blocks held by one (worker, dp rank). */
export interface WorkerBlocks {
  workerId: bigint;
  dpRank: number;
  blocks: number;
}

/** Map key of one (worker, dp rank). */
export function workerKey(workerId: bigint, dpRank: number): string {
  return `${workerId}:${dpRank}`;
}
