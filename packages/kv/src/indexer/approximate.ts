// Approximate KV indexer for `--no-router-kv-events`: it predicts cache contents from the router's own decisions.
// A block routed to a worker is assumed cached there for `ttlMs` (refreshed by every later routing of it), and at
// most `maxEntries` (block, worker) pairs are held, the least recently routed evicted first.
// Time comes from an injected clock so behaviour is deterministic under test.
import type { KvCacheEvent } from "../events.js";
import { computeSeqHashes } from "../hash.js";
import { type KvIndexer, type WorkerBlocks, type WorkerMatch, workerKey } from "./types.js";

/** Dynamo's --router-max-tree-size default: predicted (block, worker) entries kept in approximate mode. */
export const DEFAULT_APPROX_MAX_ENTRIES = 2 ** 20;
/** Dynamo's --router-prune-target-ratio default: eviction past the cap goes down to this share of it. */
export const DEFAULT_APPROX_PRUNE_TARGET_RATIO = 0.8;

export interface ApproxIndexerOptions {
  /** How long a routed block is assumed cached, in ms (Dynamo's --router-ttl-secs default is 120 s). */
  ttlMs: number;
  /** Milliseconds clock. */
  now: () => number;
  /**
   * Most (block, worker) entries held; past it the least recently routed are evicted. The TTL alone does not
   * bound memory: many distinct prefixes within one TTL grow it without limit. Default DEFAULT_APPROX_MAX_ENTRIES.
   */
  maxEntries?: number;
  /** Eviction past maxEntries goes down to this share of it, so it runs in batches. Default 0.8. */
  pruneTargetRatio?: number;
}

/** A predicted (block, worker) pair, linked in least- to most-recently routed order. */
interface Entry {
  seq: bigint;
  key: string;
  expiresAt: number;
  prev: Entry | undefined;
  next: Entry | undefined;
}

// Most blocks are predicted on one worker: a block's lone entry is held directly, a Map only once it has two.
// That halves the memory per entry, which is what the cap bounds.
type Holders = Entry | Map<string, Entry>;

export class ApproxIndexer implements KvIndexer {
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly maxEntries: number;
  private readonly pruneTarget: number;
  /** Sequence hash -> the entries predicting it. */
  private readonly entries = new Map<bigint, Holders>();
  private readonly byWorker = new Map<string, { workerId: bigint; dpRank: number; blocks: number }>();
  // With one TTL, least recently routed is also soonest to expire: both pruning and eviction pop the oldest.
  private oldest: Entry | undefined;
  private newest: Entry | undefined;
  private count = 0;

  constructor(opts: ApproxIndexerOptions) {
    this.ttlMs = opts.ttlMs;
    this.now = opts.now;
    this.maxEntries = Math.max(1, Math.floor(opts.maxEntries ?? DEFAULT_APPROX_MAX_ENTRIES));
    const ratio = opts.pruneTargetRatio ?? DEFAULT_APPROX_PRUNE_TARGET_RATIO;
    this.pruneTarget = Math.floor(this.maxEntries * Math.min(1, Math.max(0, ratio)));
  }

  /** (block, worker) entries held now. */
  get size(): number {
    return this.count;
  }

  /** Records that a request with these local hashes was routed to (worker, dp rank). */
  recordRouting(workerId: bigint, dpRank: number, localHashes: BigUint64Array): void {
    this.hold(workerId, dpRank, computeSeqHashes(localHashes));
  }

  /** Stored events count as routing of their blocks; Removed and Cleared forget blocks. */
  applyEvent(ev: KvCacheEvent): void {
    this.prune();
    const d = ev.data;
    const k = workerKey(ev.workerId, ev.dpRank);
    switch (d.kind) {
      case "stored":
        this.hold(ev.workerId, ev.dpRank, d.seqHashes);
        break;
      case "removed":
        for (const seq of d.seqHashes) {
          const entry = this.entryOf(seq, k);
          if (entry !== undefined) this.drop(entry);
        }
        break;
      case "cleared":
        this.dropWorkerState(k);
        break;
    }
  }

  findMatches(localHashes: BigUint64Array): WorkerMatch[] {
    this.prune();
    const now = this.now();
    const seqs = computeSeqHashes(localHashes);
    const depth = new Map<string, number>();
    let active: Set<string> | undefined;
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i] as bigint;
      const holders = this.entries.get(seq);
      if (holders === undefined) break;
      const live = (k: string) => (this.entryOf(seq, k)?.expiresAt ?? 0) > now;
      if (active === undefined) {
        const keys = holders instanceof Map ? [...holders.keys()] : [holders.key];
        active = new Set(keys.filter(live));
      } else {
        for (const k of active) if (!live(k)) active.delete(k);
      }
      if (active.size === 0) break;
      for (const k of active) depth.set(k, i + 1);
    }
    const out: WorkerMatch[] = [];
    for (const [k, matchedBlocks] of depth) {
      const w = this.byWorker.get(k);
      if (w !== undefined) out.push({ workerId: w.workerId, dpRank: w.dpRank, matchedBlocks });
    }
    return out;
  }

  removeWorker(workerId: bigint): void {
    for (const [k, w] of [...this.byWorker]) if (w.workerId === workerId) this.dropWorkerState(k);
  }

  clear(): void {
    this.entries.clear();
    this.byWorker.clear();
    this.oldest = undefined;
    this.newest = undefined;
    this.count = 0;
  }

  /** Live predicted blocks per (worker, dp rank). */
  workerBlocks(): WorkerBlocks[] {
    this.prune();
    return [...this.byWorker.values()].map((w) => ({
      workerId: w.workerId,
      dpRank: w.dpRank,
      blocks: w.blocks,
    }));
  }

  private hold(workerId: bigint, dpRank: number, seqs: BigUint64Array): void {
    this.prune();
    const k = workerKey(workerId, dpRank);
    let w = this.byWorker.get(k);
    if (w === undefined) {
      w = { workerId, dpRank, blocks: 0 };
      this.byWorker.set(k, w);
    }
    const expiresAt = this.now() + this.ttlMs;
    for (const seq of seqs) {
      const held = this.entryOf(seq, k);
      if (held !== undefined) {
        held.expiresAt = expiresAt;
        this.unlink(held);
        this.append(held);
        continue;
      }
      const entry: Entry = { seq, key: k, expiresAt, prev: undefined, next: undefined };
      const holders = this.entries.get(seq);
      if (holders === undefined) this.entries.set(seq, entry);
      else if (holders instanceof Map) holders.set(k, entry);
      else
        this.entries.set(
          seq,
          new Map([
            [holders.key, holders],
            [k, entry],
          ]),
        );
      w.blocks++;
      this.append(entry);
      this.count++;
    }
    if (this.count > this.maxEntries) {
      while (this.count > this.pruneTarget && this.oldest) this.drop(this.oldest);
    }
  }

  private entryOf(seq: bigint, k: string): Entry | undefined {
    const holders = this.entries.get(seq);
    if (holders === undefined) return undefined;
    if (holders instanceof Map) return holders.get(k);
    return holders.key === k ? holders : undefined;
  }

  private drop(entry: Entry): void {
    const { seq, key } = entry;
    const holders = this.entries.get(seq);
    if (holders === entry) this.entries.delete(seq);
    else if (holders instanceof Map && holders.get(key) === entry) {
      holders.delete(key);
      const [rest, ...more] = holders.values();
      if (rest !== undefined && more.length === 0) this.entries.set(seq, rest);
    }
    const w = this.byWorker.get(key);
    if (w !== undefined) w.blocks--;
    this.unlink(entry);
    this.count--;
  }

  /** Forgets every block of (worker, dp rank): a walk over all entries, for the rare Cleared or worker exit. */
  private dropWorkerState(k: string): void {
    if (!this.byWorker.has(k)) return;
    for (let entry = this.oldest; entry !== undefined; ) {
      const next = entry.next;
      if (entry.key === k) this.drop(entry);
      entry = next;
    }
    this.byWorker.delete(k);
  }

  /** Drops expired entries (the oldest first; a refreshed entry has moved to the newest end). */
  private prune(): void {
    const now = this.now();
    while (this.oldest && this.oldest.expiresAt <= now) this.drop(this.oldest);
  }

  private append(entry: Entry): void {
    entry.prev = this.newest;
    entry.next = undefined;
    if (this.newest) this.newest.next = entry;
    else this.oldest = entry;
    this.newest = entry;
  }

  private unlink(entry: Entry): void {
    if (entry.prev) entry.prev.next = entry.next;
    else this.oldest = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.newest = entry.prev;
    entry.prev = undefined;
    entry.next = undefined;
  }
}
