// Active-sequence accounting per (worker, dp rank): prompt tokens still in prefill and blocks held by active
// requests. Every change is also returned as a small JSON-safe record, so router replicas can publish it and
// apply each other's (the app does the I/O); applying a record twice has no further effect.
import { workerKey } from "../indexer/types.js";
import { EMPTY_LOAD, type WorkerLoad } from "./types.js";

export type ActiveSequenceUpdate =
  | {
      type: "add";
      requestId: string;
      /** Decimal u64. */
      workerId: string;
      dpRank: number;
      /** Uncached prompt tokens, charged to prefill until prefill completes. */
      prefillTokens: number;
      /** Blocks the request holds until freed. */
      blocks: number;
      /** Milliseconds the booking lives without a free; forever when absent. */
      leaseMs?: number;
    }
  | { type: "prefill_complete"; requestId: string }
  | { type: "free"; requestId: string };

/** How many freed request ids are remembered to ignore late duplicates. */
const FREED_MEMORY = 65_536;

interface ActiveRequest {
  key: string;
  workerId: bigint;
  dpRank: number;
  prefillTokens: number;
  blocks: number;
  inPrefill: boolean;
  addedAt: number;
  /** When the booking lapses if nobody frees it. */
  expiresAt: number;
}

export interface AddRequestInput {
  requestId: string;
  workerId: bigint;
  dpRank: number;
  promptTokens: number;
  /** Leading prompt blocks already cached on the worker. */
  overlapBlocks: number;
  blockSize: number;
  /** Milliseconds the booking lives unless freed first (the caller's request timeout). */
  leaseMs?: number;
}

export interface ActiveSequencesOptions {
  /** Milliseconds clock, for sweeping requests whose free was lost. Default Date.now. */
  now?: () => number;
}

export class ActiveSequences {
  private readonly requests = new Map<string, ActiveRequest>();
  private readonly loads = new Map<string, WorkerLoad & { workerId: bigint; dpRank: number }>();
  private readonly now: () => number;
  // Recently freed ids, so a duplicated or late "add" record does not bring a finished request back.
  private readonly freed = new Set<string>();

  constructor(opts: ActiveSequencesOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  /** Books a request routed to a worker; returns the record to share. */
  addRequest(input: AddRequestInput): ActiveSequenceUpdate {
    const bs = input.blockSize;
    const update: ActiveSequenceUpdate = {
      type: "add",
      requestId: input.requestId,
      workerId: input.workerId.toString(),
      dpRank: input.dpRank,
      prefillTokens: Math.max(input.promptTokens - input.overlapBlocks * bs, 0),
      blocks: Math.ceil(input.promptTokens / bs),
      ...(input.leaseMs !== undefined ? { leaseMs: input.leaseMs } : {}),
    };
    this.apply(update);
    return update;
  }

  /** The first output token arrived: the request's prompt tokens leave prefill accounting. */
  markPrefillComplete(requestId: string): ActiveSequenceUpdate | undefined {
    const update: ActiveSequenceUpdate = { type: "prefill_complete", requestId };
    return this.apply(update) ? update : undefined;
  }

  /** The request ended: release everything it held. */
  free(requestId: string): ActiveSequenceUpdate | undefined {
    const update: ActiveSequenceUpdate = { type: "free", requestId };
    return this.apply(update) ? update : undefined;
  }

  /** Applies a local or peer record; false when it changed nothing (duplicate, unknown request). */
  apply(u: ActiveSequenceUpdate): boolean {
    switch (u.type) {
      case "add": {
        if (this.requests.has(u.requestId) || this.freed.has(u.requestId)) return false;
        const workerId = BigInt(u.workerId);
        const r: ActiveRequest = {
          key: workerKey(workerId, u.dpRank),
          workerId,
          dpRank: u.dpRank,
          prefillTokens: u.prefillTokens,
          blocks: u.blocks,
          inPrefill: true,
          addedAt: this.now(),
          expiresAt: u.leaseMs === undefined ? Number.POSITIVE_INFINITY : this.now() + u.leaseMs,
        };
        this.requests.set(u.requestId, r);
        const l = this.loadEntry(r);
        l.activePrefillTokens += r.prefillTokens;
        l.activeDecodeBlocks += r.blocks;
        l.activeRequests++;
        return true;
      }
      case "prefill_complete": {
        const r = this.requests.get(u.requestId);
        if (r === undefined || !r.inPrefill) return false;
        r.inPrefill = false;
        this.loadEntry(r).activePrefillTokens -= r.prefillTokens;
        return true;
      }
      case "free": {
        const r = this.requests.get(u.requestId);
        if (r === undefined) return false;
        this.release(u.requestId, r);
        return true;
      }
    }
  }

  /** Current load of a (worker, dp rank). */
  load(workerId: bigint, dpRank: number): WorkerLoad {
    const l = this.loads.get(workerKey(workerId, dpRank));
    return l === undefined
      ? { ...EMPTY_LOAD }
      : {
          activePrefillTokens: l.activePrefillTokens,
          activeDecodeBlocks: l.activeDecodeBlocks,
          activeRequests: l.activeRequests,
        };
  }

  /** Every (worker, dp rank) with active requests. */
  allLoads(): { workerId: bigint; dpRank: number; load: WorkerLoad }[] {
    return [...this.loads.values()].map((l) => ({
      workerId: l.workerId,
      dpRank: l.dpRank,
      load: this.load(l.workerId, l.dpRank),
    }));
  }

  get size(): number {
    return this.requests.size;
  }

  /** Whether the request is booked (not freed, swept or dropped with its worker). */
  has(requestId: string): boolean {
    return this.requests.has(requestId);
  }

  /** Drops a worker's requests (it left); their ids are returned so callers can fail them. */
  removeWorker(workerId: bigint): string[] {
    const gone: string[] = [];
    for (const [id, r] of this.requests) {
      if (r.workerId === workerId) {
        this.release(id, r);
        gone.push(id);
      }
    }
    return gone;
  }

  /** Frees bookings whose lease ran out (their caller never freed them); returns their ids. */
  sweepExpired(): string[] {
    const now = this.now();
    const expired: string[] = [];
    for (const [id, r] of this.requests) {
      if (r.expiresAt <= now) {
        this.release(id, r);
        expired.push(id);
      }
    }
    return expired;
  }

  /** Frees requests booked more than maxAgeMs ago (their free was lost); returns their ids. */
  sweepStale(maxAgeMs: number): string[] {
    const cutoff = this.now() - maxAgeMs;
    const stale: string[] = [];
    for (const [id, r] of this.requests) {
      if (r.addedAt < cutoff) {
        this.release(id, r);
        stale.push(id);
      }
    }
    return stale;
  }

  private loadEntry(r: ActiveRequest): WorkerLoad {
    let l = this.loads.get(r.key);
    if (l === undefined) {
      l = { ...EMPTY_LOAD, workerId: r.workerId, dpRank: r.dpRank };
      this.loads.set(r.key, l);
    }
    return l;
  }

  private release(id: string, r: ActiveRequest): void {
    this.requests.delete(id);
    this.freed.add(id);
    // Sets iterate in insertion order: evict the oldest tombstone.
    if (this.freed.size > FREED_MEMORY) {
      const oldest = this.freed.values().next();
      if (oldest.done !== true) this.freed.delete(oldest.value);
    }
    const l = this.loadEntry(r);
    if (r.inPrefill) l.activePrefillTokens -= r.prefillTokens;
    l.activeDecodeBlocks -= r.blocks;
    l.activeRequests--;
    if (l.activeRequests === 0) this.loads.delete(r.key);
  }
}

/** A peer's record, validated; undefined when it is not a well-formed ActiveSequenceUpdate. */
export function parseActiveSequenceUpdate(v: unknown): ActiveSequenceUpdate | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.requestId !== "string") return undefined;
  const requestId = o.requestId;
  const count = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
  switch (o.type) {
    case "add":
      if (
        typeof o.workerId !== "string" ||
        !/^\d{1,20}$/.test(o.workerId) ||
        BigInt(o.workerId) >= 2n ** 64n
      ) {
        return undefined;
      }
      if (!count(o.dpRank) || !count(o.prefillTokens) || !count(o.blocks)) return undefined;
      if (o.leaseMs !== undefined && !count(o.leaseMs)) return undefined;
      return {
        type: "add",
        requestId,
        workerId: o.workerId,
        dpRank: o.dpRank,
        prefillTokens: o.prefillTokens,
        blocks: o.blocks,
        ...(o.leaseMs !== undefined ? { leaseMs: o.leaseMs } : {}),
      };
    case "prefill_complete":
    case "free":
      return { type: o.type, requestId };
    default:
      return undefined;
  }
}
