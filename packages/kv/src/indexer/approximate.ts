// Approximate KV indexer for `--no-router-kv-events`: it predicts cache contents from the router's own decisions.
// A block routed to a worker is assumed cached there for `ttlMs` (refreshed by every later routing of it).
// Time comes from an injected clock so behaviour is deterministic under test.
import type { KvCacheEvent } from "../events.js";
import { computeSeqHashes } from "../hash.js";
import { type KvIndexer, type WorkerBlocks, type WorkerMatch, workerKey } from "./types.js";

export interface ApproxIndexerOptions {
  /** How long a routed block is assumed cached, in ms (Dynamo's --router-ttl-secs default is 120 s). */
  ttlMs: number;
  /** Milliseconds clock. */
  now: () => number;
}

interface Expiry {
  at: number;
  seq: bigint;
  key: string;
}

export class ApproxIndexer implements KvIndexer {
  private readonly ttlMs: number;
  private readonly now: () => number;
  /** Sequence hash -> worker key -> expiry time. */
  private readonly entries = new Map<bigint, Map<string, number>>();
  private readonly byWorker = new Map<string, { workerId: bigint; dpRank: number; seqs: Set<bigint> }>();
  // Expiries in insertion order; with one TTL that is also expiry order, so pruning pops from the front.
  private expiries: Expiry[] = [];
  private head = 0;

  constructor(opts: ApproxIndexerOptions) {
    this.ttlMs = opts.ttlMs;
    this.now = opts.now;
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
        for (const seq of d.seqHashes) this.forget(k, seq);
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
      const holders = this.entries.get(seqs[i] as bigint);
      if (holders === undefined) break;
      const live = (k: string) => (holders.get(k) ?? 0) > now;
      if (active === undefined) {
        active = new Set([...holders.keys()].filter(live));
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
    this.expiries = [];
    this.head = 0;
  }

  /** Live predicted blocks per (worker, dp rank). */
  workerBlocks(): WorkerBlocks[] {
    this.prune();
    return [...this.byWorker.values()].map((w) => ({
      workerId: w.workerId,
      dpRank: w.dpRank,
      blocks: w.seqs.size,
    }));
  }

  private hold(workerId: bigint, dpRank: number, seqs: BigUint64Array): void {
    this.prune();
    const k = workerKey(workerId, dpRank);
    let w = this.byWorker.get(k);
    if (w === undefined) {
      w = { workerId, dpRank, seqs: new Set() };
      this.byWorker.set(k, w);
    }
    const at = this.now() + this.ttlMs;
    for (const seq of seqs) {
      let holders = this.entries.get(seq);
      if (holders === undefined) {
        holders = new Map();
        this.entries.set(seq, holders);
      }
      holders.set(k, at);
      w.seqs.add(seq);
      this.expiries.push({ at, seq, key: k });
    }
  }

  private forget(k: string, seq: bigint): void {
    const holders = this.entries.get(seq);
    if (holders === undefined || !holders.delete(k)) return;
    if (holders.size === 0) this.entries.delete(seq);
    this.byWorker.get(k)?.seqs.delete(seq);
  }

  private dropWorkerState(k: string): void {
    const w = this.byWorker.get(k);
    if (w === undefined) return;
    for (const seq of [...w.seqs]) this.forget(k, seq);
    this.byWorker.delete(k);
  }

  /** Drops expired entries. An entry refreshed since its queue record was written keeps its newer expiry. */
  private prune(): void {
    const now = this.now();
    while (this.head < this.expiries.length) {
      const e = this.expiries[this.head] as Expiry;
      if (e.at > now) break;
      this.head++;
      if (this.entries.get(e.seq)?.get(e.key) === e.at) this.forget(e.key, e.seq);
    }
    // Compact once the consumed prefix dominates, so the queue does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.expiries.length) {
      this.expiries = this.expiries.slice(this.head);
      this.head = 0;
    }
  }
}
