// NativeIndexer: the KvIndexer interface over the native positional index, plus its batched binary calls.
import type { KvCacheEvent, KvIndexer, WorkerBlocks, WorkerMatch } from "@kvasir/kv";
import {
  type BatchMatchArrays,
  type IndexMemoryStats,
  loadAddon,
  type MatchArrays,
  type RawNativeIndex,
  requireAddon,
} from "./addon.js";
import { PackedEventWriter } from "./packed-events.js";

export interface NativeIndexerOptions {
  /** Write threads; events are routed to one by worker id. Default 2. */
  threads?: number;
  /** Jump-search stride in blocks. Default 64. */
  jumpSize?: number;
}

// Events buffered by applyEvent are handed to the pool once this many bytes are pending.
const FLUSH_BYTES = 256 * 1024;

export class NativeIndexer implements KvIndexer {
  private readonly writer = new PackedEventWriter();
  private queued = false;

  private constructor(readonly raw: RawNativeIndex) {}

  static create(opts: NativeIndexerOptions = {}): NativeIndexer {
    return new NativeIndexer(new (requireAddon().NativeIndex)(opts.threads ?? 2, opts.jumpSize ?? 64));
  }

  /** Opens the index `id` (from `indexer.id`) created on another thread of this process. */
  static open(id: number): NativeIndexer {
    return new NativeIndexer(new (requireAddon().NativeIndex)(0, 0, id));
  }

  /** Process-wide id, for NativeIndexer.open in a worker_thread. */
  get id(): number {
    return this.raw.id();
  }

  /** Buffers the event; it reaches the index on the next read through this object or within a microtask. */
  applyEvent(ev: KvCacheEvent): void {
    this.writer.push(ev);
    if (this.writer.byteLength >= FLUSH_BYTES) {
      this.send();
    } else if (!this.queued) {
      this.queued = true;
      queueMicrotask(() => this.send());
    }
  }

  /** Queues a packed event buffer on the write pool without waiting; returns the number of events. */
  applyPacked(packed: Uint8Array): number {
    this.send();
    return this.raw.applyEvents(packed);
  }

  /** Waits until every event given so far has been applied. */
  flush(): void {
    this.send();
    this.raw.flush();
  }

  findMatches(localHashes: BigUint64Array, seqHashes?: BigUint64Array): WorkerMatch[] {
    const m = this.findMatchesRaw(localHashes, seqHashes);
    const out: WorkerMatch[] = [];
    for (let i = 0; i < m.depths.length; i++) {
      out.push({
        workerId: m.workerIds[i] as bigint,
        dpRank: m.dpRanks[i] as number,
        matchedBlocks: m.depths[i] as number,
      });
    }
    return out;
  }

  /**
   * Events and lookups packed in one buffer (PackedEventWriter's push and pushLookup), applied and answered in
   * order on this thread in one call across the native boundary. Events given earlier go first.
   */
  runBatch(records: Uint8Array): BatchMatchArrays {
    this.send();
    return this.raw.runBatch(records);
  }

  /** The matches of many prompts in one native call, in the order given. */
  findMatchesBatch(queries: readonly BigUint64Array[]): WorkerMatch[][] {
    const w = new PackedEventWriter();
    for (const q of queries) w.pushLookup(q);
    const r = this.runBatch(w.take());
    let at = 0;
    return Array.from(r.counts, (count) => {
      const out: WorkerMatch[] = [];
      for (const end = at + count; at < end; at++) {
        out.push({
          workerId: r.workerIds[at] as bigint,
          dpRank: r.dpRanks[at] as number,
          matchedBlocks: r.depths[at] as number,
        });
      }
      return out;
    });
  }

  /** Matches as typed arrays. Sees every event this object was given (it flushes first). */
  findMatchesRaw(localHashes: BigUint64Array, seqHashes?: BigUint64Array): MatchArrays {
    if (this.writer.events > 0) this.flush();
    return this.raw.findMatches(localHashes, seqHashes);
  }

  removeWorker(workerId: bigint): void {
    this.send();
    this.raw.removeWorker(workerId);
  }

  clear(): void {
    this.send();
    this.raw.clear();
  }

  /** Binary snapshot of the whole index (layout in native/README.md). */
  snapshot(): Uint8Array {
    this.send();
    return this.raw.snapshot();
  }

  /** Replaces the state with a snapshot's; throws (leaving the index empty) on a malformed one. */
  restore(snapshot: Uint8Array): void {
    this.send();
    this.raw.restore(snapshot);
  }

  memoryStats(): IndexMemoryStats {
    this.flush();
    return this.raw.memoryStats();
  }

  /** Stored events dropped because their parent block is in no worker's cache. */
  counters(): { unknownParent: number } {
    this.flush();
    return this.raw.counters();
  }

  lastEventId(workerId: bigint): bigint | undefined {
    this.flush();
    return this.raw.lastEventId(workerId);
  }

  workerBlocks(): WorkerBlocks[] {
    this.flush();
    const r = this.raw.workerBlocks();
    return Array.from(r.blocks, (blocks, i) => ({
      workerId: r.workerIds[i] as bigint,
      dpRank: r.dpRanks[i] as number,
      blocks,
    }));
  }

  private send(): void {
    this.queued = false;
    if (this.writer.events > 0) this.raw.applyEvents(this.writer.take());
  }
}

export type NativeIndexerLoad =
  | { ok: true; create: (opts?: NativeIndexerOptions) => NativeIndexer; open: (id: number) => NativeIndexer }
  | { ok: false; reason: string };

/** For `--indexer-backend native`: the factory, or why the native indexer cannot be used. */
export function loadNativeIndexer(): NativeIndexerLoad {
  const r = loadAddon();
  if (!r.ok) return { ok: false, reason: r.reason };
  return { ok: true, create: (opts) => NativeIndexer.create(opts), open: (id) => NativeIndexer.open(id) };
}
