// The KV-aware router, transport-agnostic: one implementation that the frontend embeds for `--router-mode kv` and
// that apps/router serves over Connect. It owns the overlap index (embedded radix/native, approximate, or a remote
// indexer's findMatches), Dynamo's cost model, active-sequence accounting shared with replicas, and the request
// queue. All I/O comes in through the small ports below; the hosting app wires them to the event plane, NATS and
// Connect.
import type { PerfProfile } from "@kvasir/protocol";
import type { KvCacheEvent } from "../events.js";
import { computeLocalHashes, DEFAULT_KV_BLOCK_SIZE } from "../hash.js";
import { ApproxIndexer } from "../indexer/approximate.js";
import { RadixIndexer } from "../indexer/radix.js";
import type { KvIndexer, WorkerMatch } from "../indexer/types.js";
import { ActiveSequences, type ActiveSequenceUpdate, parseActiveSequenceUpdate } from "./active.js";
import type { KvCostConfig, WorkerCost } from "./cost.js";
import { PrefillingPrompts } from "./prefilling.js";
import { allWorkersBusy, type QueuePolicy, RequestQueue } from "./queue.js";
import { KvSelector } from "./selectors.js";
import type { Rng, SelectionRequest, WorkerCandidate } from "./types.js";

/** Stops a subscription. */
export type Unsubscribe = () => void;

/** Where the router hears workers' KV cache events (the event plane, in the apps). */
export interface KvEventSource {
  subscribe(handler: (events: readonly KvCacheEvent[]) => void): Unsubscribe;
}

/** How router replicas exchange active-sequence updates (NATS, in the apps). Records are JSON-safe. */
export interface ReplicaSyncPort {
  publish(update: ActiveSequenceUpdate): void;
  /** Peers' records, not yet validated; the port may echo this replica's own records (they are no-ops). */
  subscribe(handler: (update: unknown) => void): Unsubscribe;
}

/** A standalone indexer's lookup (IndexerService.FindMatches, in the apps). */
export type RemoteFindMatches = (localHashes: BigUint64Array) => Promise<readonly WorkerMatch[]>;

/** A worker the request may go to. */
export interface KvRouterWorker {
  workerId: bigint;
  /** Data-parallel ranks, each with its own KV cache. */
  dataParallelSize: number;
  /** The worker's max_num_batched_tokens (its MDC), for the queue threshold. */
  maxNumBatchedTokens: number;
  /** Step timings from its card, for the ttft cost model. */
  perfProfile?: PerfProfile;
}

export interface KvRouteRequest {
  requestId: string;
  /** Prompt tokens; or give localHashes (then promptTokens defaults to full blocks). */
  tokenIds?: ArrayLike<number>;
  localHashes?: BigUint64Array;
  promptTokens?: number;
  /** Tokens per KV block; the router's default when absent. */
  blockSize?: number;
  loraName?: string;
  cacheSalt?: string;
  /** `nvext.agent_hints.priority`: higher is served earlier when requests queue. */
  priority?: number;
}

export interface RouteOptions {
  /** Book the request on the chosen worker (active sequences, approximate index). Default true. */
  book?: boolean;
  /** Milliseconds the booking lives unless freed first; the router's default lease when absent. */
  leaseMs?: number;
  /** Cancels a request still waiting in the queue. */
  signal?: AbortSignal;
}

export interface KvRouteDecision {
  workerId: bigint;
  dpRank: number;
  overlapBlocks: number;
  promptTokens: number;
  blockSize: number;
  /** Milliseconds spent hashing, in the indexer lookup, and choosing. */
  timings: { hashMs: number; findMatchesMs: number; selectMs: number };
}

export interface KvRouterOptions {
  /** Default tokens per KV block (--kv-cache-block-size). Default 16. */
  blockSize?: number;
  /** Hashes a prompt into local block hashes; the native addon's is faster. Default: this package's. */
  computeLocalHashes?: typeof computeLocalHashes;
  cost?: Partial<KvCostConfig>;
  /** --router-kv-events (default true); false predicts cache state from routing decisions (approximate mode). */
  useKvEvents?: boolean;
  /** How long a routed block counts as cached in approximate mode. Default 120 s (Dynamo's --router-ttl-secs). */
  approxTtlMs?: number;
  /** Approximate mode's entry cap and eviction target (Dynamo's --router-max-tree-size, --router-prune-target-ratio). */
  approxMaxEntries?: number;
  approxPruneTargetRatio?: number;
  /** The embedded index; a TypeScript RadixIndexer when absent. Unused with remoteFindMatches or approximate mode. */
  indexer?: KvIndexer;
  /** Use a standalone indexer instead of an embedded one (--use-remote-indexer). */
  remoteFindMatches?: RemoteFindMatches;
  events?: KvEventSource;
  replicaSync?: ReplicaSyncPort;
  /** --router-queue-threshold; undefined never queues. */
  queueThreshold?: number;
  queuePolicy?: QueuePolicy;
  /** Most requests waiting at once; past it route() rejects with QueueFullError. Default 1024. */
  maxQueueSize?: number;
  /** Prefixes booking ids so replicas never collide on one request id. */
  replicaId?: string;
  /** Lease of a booking routed without its own `leaseMs`; unbounded when absent. */
  bookingLeaseMs?: number;
  now?: () => number;
  rng?: Rng;
}

/** The queue is at its bound: the caller sheds the request (HTTP 503, gRPC ResourceExhausted). */
export class QueueFullError extends Error {
  constructor(size: number) {
    super(`The router queue is full (${size} requests waiting).`);
    this.name = "QueueFullError";
  }
}

/** No candidate worker was given. */
export class NoWorkersError extends Error {
  constructor() {
    super("No worker is available for this request.");
    this.name = "NoWorkersError";
  }
}

/** The router was closed while the request waited. */
export class RouterClosedError extends Error {
  constructor() {
    super("The router is shutting down.");
    this.name = "RouterClosedError";
  }
}

interface Prepared {
  localHashes: BigUint64Array;
  promptTokens: number;
  blockSize: number;
  hashMs: number;
}

/** A request with its prompt hashed and its overlaps looked up: all the awaiting done, ready to choose and book. */
interface Looked {
  request: KvRouteRequest;
  workers: readonly KvRouterWorker[];
  options: RouteOptions;
  prepared: Prepared;
  overlaps: readonly WorkerMatch[];
  findMatchesMs: number;
}

interface Waiting extends Looked {
  resolve(d: KvRouteDecision): void;
  reject(e: unknown): void;
}

export class KvRouter {
  private readonly selector: KvSelector;
  private readonly active: ActiveSequences;
  private readonly indexer: KvIndexer | undefined;
  private readonly approx: ApproxIndexer | undefined;
  private readonly remote: RemoteFindMatches | undefined;
  private readonly queue: RequestQueue<Waiting>;
  private readonly blockSize: number;
  private readonly computeLocalHashes: typeof computeLocalHashes;
  private readonly queueThreshold: number | undefined;
  private readonly replicaSync: ReplicaSyncPort | undefined;
  private readonly replicaId: string;
  private readonly bookingLeaseMs: number | undefined;
  private readonly subscriptions: Unsubscribe[] = [];
  /** Request id -> its current booking id (a retried request is booked afresh under a new one). */
  private readonly bookings = new Map<string, string>();
  private bookingCounter = 0;
  /** Prompts booked here and still in prefill; the ttft cost model counts them as cached (prefilling.ts). */
  private readonly prefilling: PrefillingPrompts | undefined;
  private closed = false;
  /** KV events applied to the embedded index. */
  eventsApplied = 0;

  constructor(opts: KvRouterOptions = {}) {
    const now = opts.now ?? Date.now;
    this.blockSize = opts.blockSize ?? DEFAULT_KV_BLOCK_SIZE;
    this.computeLocalHashes = opts.computeLocalHashes ?? computeLocalHashes;
    this.queueThreshold = opts.queueThreshold;
    this.replicaSync = opts.replicaSync;
    this.replicaId = opts.replicaId ?? "";
    this.bookingLeaseMs = opts.bookingLeaseMs;
    this.active = new ActiveSequences({ now });
    this.queue = new RequestQueue<Waiting>({
      policy: opts.queuePolicy ?? "fcfs",
      maxSize: opts.maxQueueSize ?? 1024,
      now,
    });
    const useKvEvents = opts.useKvEvents ?? true;
    if (opts.remoteFindMatches !== undefined) {
      this.remote = opts.remoteFindMatches;
    } else if (!useKvEvents) {
      this.approx = new ApproxIndexer({
        ttlMs: opts.approxTtlMs ?? 120_000,
        now,
        ...(opts.approxMaxEntries !== undefined ? { maxEntries: opts.approxMaxEntries } : {}),
        ...(opts.approxPruneTargetRatio !== undefined
          ? { pruneTargetRatio: opts.approxPruneTargetRatio }
          : {}),
      });
    } else {
      const indexer = opts.indexer ?? new RadixIndexer();
      this.indexer = indexer;
      if (opts.events !== undefined) {
        this.subscriptions.push(
          opts.events.subscribe((events) => {
            for (const ev of events) indexer.applyEvent(ev);
            this.eventsApplied += events.length;
          }),
        );
      }
    }
    if (opts.cost?.model === "ttft") this.prefilling = new PrefillingPrompts();
    this.selector = new KvSelector({
      ...(opts.cost ? { config: opts.cost } : {}),
      ...(opts.rng ? { rng: opts.rng } : {}),
    });
    if (opts.replicaSync !== undefined) {
      this.subscriptions.push(
        opts.replicaSync.subscribe((raw) => {
          const update = parseActiveSequenceUpdate(raw);
          if (update !== undefined && this.active.apply(update) && update.type !== "add") this.drainQueue();
        }),
      );
    }
  }

  /** The cost configuration in force. */
  get costConfig(): Readonly<KvCostConfig> {
    return this.selector.config;
  }

  /** Requests waiting for capacity. */
  get queueSize(): number {
    return this.queue.size;
  }

  /** Requests booked on workers, by this replica and its peers. */
  get activeRequests(): number {
    return this.active.size;
  }

  /** What the router knows a (worker, dp rank) is busy with. */
  load(workerId: bigint, dpRank: number) {
    return this.active.load(workerId, dpRank);
  }

  /**
   * Chooses a worker among `workers` for the request. When every worker is over the queue threshold the request
   * waits (ordered by policy and priority) until capacity frees; a full queue rejects with QueueFullError.
   *
   * The index lookup, the only await, comes first: from the admission check to the booking nothing awaits, so
   * each request of a burst sees the bookings of those admitted before it and is queued or shed as the
   * thresholds say.
   */
  async route(
    request: KvRouteRequest,
    workers: readonly KvRouterWorker[],
    options: RouteOptions = {},
  ): Promise<KvRouteDecision> {
    if (this.closed) throw new RouterClosedError();
    if (workers.length === 0) throw new NoWorkersError();
    const prepared = this.prepare(request);
    const t0 = performance.now();
    const overlaps = await this.findMatches(prepared.localHashes);
    const looked: Looked = {
      request,
      workers,
      options,
      prepared,
      overlaps,
      findMatchesMs: performance.now() - t0,
    };
    if (this.closed) throw new RouterClosedError();
    // Only requests that will be booked wait; a query (book: false) is answered at once.
    if (options.book === false || !this.mustQueue(workers)) return this.choose(looked);
    if (options.signal?.aborted) throw options.signal.reason;
    return new Promise<KvRouteDecision>((resolve, reject) => {
      const waiting: Waiting = { ...looked, resolve, reject };
      if (
        !this.queue.push(waiting, { priority: request.priority ?? 0, promptTokens: prepared.promptTokens })
      ) {
        reject(new QueueFullError(this.queue.size));
        return;
      }
      options.signal?.addEventListener(
        "abort",
        () => {
          if (this.queue.remove((w) => w === waiting).length > 0) reject(options.signal?.reason);
        },
        { once: true },
      );
    });
  }

  /** Every candidate's projected load and cost if the request went there (RouterService.PotentialLoads). */
  async potentialLoads(request: KvRouteRequest, workers: readonly KvRouterWorker[]): Promise<WorkerCost[]> {
    const prepared = this.prepare(request);
    const overlaps = await this.findMatches(prepared.localHashes);
    return this.selector.costs(this.candidates(workers), this.selectionRequest(prepared, overlaps));
  }

  /** The request's first token arrived: its prompt leaves prefill accounting. */
  markPrefillComplete(requestId: string): void {
    const booking = this.bookings.get(requestId);
    if (booking === undefined) return;
    this.prefilling?.delete(booking);
    this.share(this.active.markPrefillComplete(booking));
    this.drainQueue();
  }

  /** The request ended (or failed): release what it held. */
  free(requestId: string): void {
    const booking = this.bookings.get(requestId);
    if (booking === undefined) return;
    this.bookings.delete(requestId);
    this.prefilling?.delete(booking);
    this.share(this.active.free(booking));
    this.drainQueue();
  }

  /** A worker left: forget its cache and the requests booked on it. */
  removeWorker(workerId: bigint): void {
    this.indexer?.removeWorker(workerId);
    this.approx?.removeWorker(workerId);
    this.active.removeWorker(workerId);
    this.prefilling?.retain((_, w) => w !== workerId);
    this.drainQueue();
  }

  /**
   * Frees bookings whose lease ran out (a caller that booked and never freed); the app calls it periodically.
   * Returns the request ids so the app can count and log them.
   */
  sweepExpired(): string[] {
    const expired = this.active.sweepExpired();
    for (const booking of expired) {
      const requestId = booking.slice(booking.indexOf("/") + 1, booking.lastIndexOf("/"));
      if (this.bookings.get(requestId) === booking) this.bookings.delete(requestId);
    }
    if (expired.length > 0) {
      this.prefilling?.retain((booking) => this.active.has(booking));
      this.drainQueue();
    }
    return expired;
  }

  /** Frees bookings older than maxAgeMs whose free never came (a crashed peer); the app calls it periodically. */
  sweepStale(maxAgeMs: number): number {
    const n = this.active.sweepStale(maxAgeMs).length;
    if (n > 0) {
      this.prefilling?.retain((booking) => this.active.has(booking));
      this.drainQueue();
    }
    return n;
  }

  /** Stops listening and rejects queued requests. */
  close(): void {
    this.closed = true;
    for (const unsubscribe of this.subscriptions.splice(0)) unsubscribe();
    for (let w = this.queue.pop(); w !== undefined; w = this.queue.pop()) w.reject(new RouterClosedError());
  }

  private mustQueue(workers: readonly KvRouterWorker[]): boolean {
    if (this.queueThreshold === undefined) return false;
    const threshold = this.queueThreshold;
    return workers.every((w) =>
      allWorkersBusy(
        Array.from({ length: Math.max(w.dataParallelSize, 1) }, (_, dp) => this.active.load(w.workerId, dp)),
        threshold,
        w.maxNumBatchedTokens,
      ),
    );
  }

  /**
   * Routes queued requests while some worker is under the threshold, in order: each booking changes the loads the
   * next check reads. Synchronous, with the overlaps looked up at admission.
   */
  private drainQueue(): void {
    for (
      let next = this.queue.peek();
      next !== undefined && !this.mustQueue(next.workers);
      next = this.queue.peek()
    ) {
      this.queue.pop();
      try {
        next.resolve(this.choose(next));
      } catch (error) {
        next.reject(error);
      }
    }
  }

  /** Chooses and books (unless a query) without awaiting anything. */
  private choose({ request, workers, options, prepared, overlaps, findMatchesMs }: Looked): KvRouteDecision {
    const t1 = performance.now();
    const chosen = this.selector.select(this.candidates(workers), this.selectionRequest(prepared, overlaps));
    if (chosen === undefined) throw new NoWorkersError();
    if (options.book ?? true) {
      const leaseMs = options.leaseMs ?? this.bookingLeaseMs;
      this.book(request.requestId, chosen.workerId, chosen.dpRank, chosen.overlapBlocks, prepared, leaseMs);
    }
    return {
      workerId: chosen.workerId,
      dpRank: chosen.dpRank,
      overlapBlocks: chosen.overlapBlocks,
      promptTokens: prepared.promptTokens,
      blockSize: prepared.blockSize,
      timings: { hashMs: prepared.hashMs, findMatchesMs, selectMs: performance.now() - t1 },
    };
  }

  private book(
    requestId: string,
    workerId: bigint,
    dpRank: number,
    overlapBlocks: number,
    p: Prepared,
    leaseMs: number | undefined,
  ): void {
    // A request routed again (a retry after a worker failed) replaces its earlier booking.
    const previous = this.bookings.get(requestId);
    if (previous !== undefined) {
      this.share(this.active.free(previous));
      this.prefilling?.delete(previous);
    }
    const booking = `${this.replicaId}/${requestId}/${this.bookingCounter++}`;
    this.bookings.set(requestId, booking);
    this.share(
      this.active.addRequest({
        requestId: booking,
        workerId,
        dpRank,
        promptTokens: p.promptTokens,
        overlapBlocks,
        blockSize: p.blockSize,
        ...(leaseMs !== undefined ? { leaseMs } : {}),
      }),
    );
    this.approx?.recordRouting(workerId, dpRank, p.localHashes);
    this.prefilling?.add(booking, workerId, dpRank, p.localHashes);
  }

  private share(update: ActiveSequenceUpdate | undefined): void {
    if (update !== undefined) this.replicaSync?.publish(update);
  }

  private prepare(request: KvRouteRequest): Prepared {
    const blockSize = request.blockSize ?? this.blockSize;
    const t0 = performance.now();
    const hashOpts = {
      ...(request.loraName ? { loraName: request.loraName } : {}),
      ...(request.cacheSalt ? { cacheSalt: request.cacheSalt } : {}),
    };
    const localHashes =
      request.localHashes ??
      (request.tokenIds !== undefined
        ? this.computeLocalHashes(request.tokenIds, blockSize, hashOpts)
        : new BigUint64Array(0));
    const promptTokens = request.promptTokens ?? request.tokenIds?.length ?? localHashes.length * blockSize;
    return { localHashes, promptTokens, blockSize, hashMs: performance.now() - t0 };
  }

  private async findMatches(localHashes: BigUint64Array): Promise<readonly WorkerMatch[]> {
    if (localHashes.length === 0) return [];
    if (this.remote !== undefined) return this.remote(localHashes);
    return (this.indexer ?? this.approx)?.findMatches(localHashes) ?? [];
  }

  private candidates(workers: readonly KvRouterWorker[]): WorkerCandidate[] {
    return workers.flatMap((w) =>
      Array.from({ length: Math.max(w.dataParallelSize, 1) }, (_, dpRank) => ({
        workerId: w.workerId,
        dpRank,
        load: this.active.load(w.workerId, dpRank),
        maxNumBatchedTokens: w.maxNumBatchedTokens,
        ...(w.perfProfile !== undefined ? { perfProfile: w.perfProfile } : {}),
      })),
    );
  }

  private selectionRequest(p: Prepared, overlaps: readonly WorkerMatch[]): SelectionRequest {
    // Read at choosing time, so a request that waited in the queue sees the prompts booked meanwhile.
    const known = this.prefilling?.merge(p.localHashes, overlaps) ?? overlaps;
    return {
      localHashes: p.localHashes,
      promptTokens: p.promptTokens,
      blockSize: p.blockSize,
      overlaps: known,
    };
  }
}
