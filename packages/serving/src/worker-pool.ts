// One view of the workers of one component (`backend`, `prefill` or `decode`): their discovery records joined
// with their Model Deployment Cards, their latest published load, and this process's own requests on them.
// The frontend, the router app, the prefill router and the planner all read workers through it.
import type { WorkerLoad } from "@kvasir/kv";
import {
  fromBinary,
  type LoadMetrics,
  LoadMetricsSchema,
  type ModelDeploymentCard,
  parseInstanceRecord,
  parseModelDeploymentCard,
} from "@kvasir/protocol";
import {
  type Discovery,
  type DiscoveryEvent,
  type EventPlane,
  followPrefix,
  loadMetricsSubject,
  parseInstanceId,
} from "@kvasir/runtime";

/** A worker with a live instance record and a card: one that can be routed to. */
export interface PoolWorker {
  instanceId: bigint;
  /** Base URL of its Connect server, as it advertised it. */
  address: string;
  /** The served model name of its card. */
  model: string;
  /** The card's name and aliases. */
  names: readonly string[];
  card: ModelDeploymentCard;
  dataParallelSize: number;
  blockSize: number;
  maxNumBatchedTokens: number;
  metadata: Readonly<Record<string, string>>;
}

export type PoolChange = { type: "added"; worker: PoolWorker } | { type: "removed"; worker: PoolWorker };

/** Load-shedding thresholds (Dynamo's); an absent one never makes a worker busy. */
export interface BusyThresholds {
  /** Fraction (0..1) of a rank's KV blocks in use. */
  activeDecodeBlocks?: number;
  /** Prompt tokens waiting for prefill on a rank. */
  activePrefillTokens?: number;
}

export interface WorkerPoolOptions {
  namespace: string;
  /** `backend` (aggregated), `prefill` or `decode`. */
  component: string;
  /** Where the workers publish load metrics; without it only this process's own requests count as load. */
  events?: EventPlane;
  /**
   * How long a worker discovery deletes while its connection is down (or came back less than this ago) stays
   * routable: an outage empties a view before the owners re-register. Default: the discovery TTL, else 10 s.
   */
  outageGraceMs?: number;
  onError?(error: unknown): void;
}

const rankKey = (instanceId: bigint, dpRank: number) => `${instanceId}:${dpRank}`;
/** How long a worker that failed a connection is skipped, at most: about a discovery TTL. */
const SUSPECT_MS = 10_000;
const DEFAULT_OUTAGE_GRACE_MS = 10_000;

function idOf(key: string): bigint | undefined {
  try {
    return parseInstanceId(key.slice(key.lastIndexOf("/") + 1));
  } catch {
    return undefined;
  }
}

export class WorkerPool {
  readonly namespace: string;
  readonly component: string;
  private readonly records = new Map<bigint, ReturnType<typeof parseInstanceRecord> & {}>();
  /** By discovery key: a card is `v1/mdc/{ns}/{model}/{id}`. */
  private readonly cards = new Map<string, { instanceId: bigint; card: ModelDeploymentCard }>();
  private readonly ready = new Map<bigint, PoolWorker>();
  private readonly reported = new Map<string, LoadMetrics>();
  private readonly inFlight = new Map<string, number>();
  private readonly listeners = new Set<(change: PoolChange) => void>();
  /** Workers whose connection failed, until when (ms): skipped while others can serve. */
  private readonly suspects = new Map<bigint, number>();
  private readonly stops: (() => void)[] = [];
  /** Workers discovery deleted during an outage, kept routable until the timer re-checks them. */
  private readonly held = new Map<bigint, NodeJS.Timeout>();
  private readonly outageGraceMs: number;
  private discoveryDown = false;
  private reconnectedAt = Number.NEGATIVE_INFINITY;
  private readonly instancePrefix: string;
  private readonly mdcPrefix: string;

  constructor(
    private readonly discovery: Discovery,
    private readonly options: WorkerPoolOptions,
  ) {
    this.namespace = options.namespace;
    this.component = options.component;
    this.instancePrefix = `v1/instances/${options.namespace}/${options.component}/generate/`;
    this.mdcPrefix = `v1/mdc/${options.namespace}/`;
    this.outageGraceMs = options.outageGraceMs ?? discovery.ttlMs ?? DEFAULT_OUTAGE_GRACE_MS;
  }

  /** Reads the current workers, then follows changes (and load metrics) until close(). */
  async start(): Promise<void> {
    const unsubscribe = this.discovery.onStatus?.((event) => {
      if (event.type === "disconnected") this.discoveryDown = true;
      else if (event.type === "reconnected") {
        this.discoveryDown = false;
        this.reconnectedAt = Date.now();
      }
    });
    if (unsubscribe) this.stops.push(unsubscribe);
    for (const prefix of [this.mdcPrefix, this.instancePrefix]) {
      this.stops.push(
        await followPrefix(
          this.discovery,
          prefix,
          (event) => this.apply(event),
          (error) => this.options.onError?.(error),
        ),
      );
    }
    const { events } = this.options;
    if (events) {
      const subscription = events.subscribe(loadMetricsSubject(this.namespace, this.component), (message) => {
        try {
          this.applyLoad(fromBinary(LoadMetricsSchema, message.data));
        } catch {
          // A malformed message is dropped; the worker's next step replaces it.
        }
      });
      this.stops.push(() => subscription.unsubscribe());
    }
  }

  close(): void {
    for (const stop of this.stops.splice(0)) stop();
    for (const timer of this.held.values()) clearTimeout(timer);
    this.held.clear();
    this.listeners.clear();
  }

  /** Told of every worker that becomes routable or leaves; returns the unsubscribe. */
  onChange(listener: (change: PoolChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Routable workers answering to `model` (a served name or alias), or all when model is undefined. Suspects are
   * left out while another worker can serve.
   */
  workers(model?: string): PoolWorker[] {
    const registered = this.registered(model);
    const now = Date.now();
    const trusted = registered.filter((w) => !this.isSuspect(w.instanceId, now));
    return trusted.length > 0 ? trusted : registered;
  }

  /** Every routable worker answering to `model` as discovery lists it, suspects included (for /health). */
  registered(model?: string): PoolWorker[] {
    const out: PoolWorker[] = [];
    for (const worker of this.ready.values()) {
      if (model === undefined || worker.names.includes(model)) out.push(worker);
    }
    // A stable order, so ties break the same way in every process.
    return out.sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
  }

  /**
   * A worker whose connection failed: skipped for `forMs` while others can serve, or until discovery writes its
   * record again (a dead worker stays in discovery until its lease or heartbeat TTL runs out).
   */
  markSuspect(instanceId: bigint, forMs = SUSPECT_MS): void {
    if (this.ready.has(instanceId)) this.suspects.set(instanceId, Date.now() + forMs);
  }

  /** The workers suspect right now. */
  suspectIds(): bigint[] {
    const now = Date.now();
    return [...this.suspects.keys()].filter((id) => this.isSuspect(id, now));
  }

  private isSuspect(instanceId: bigint, now: number): boolean {
    const until = this.suspects.get(instanceId);
    if (until === undefined) return false;
    if (until > now) return true;
    this.suspects.delete(instanceId);
    return false;
  }

  worker(instanceId: bigint): PoolWorker | undefined {
    return this.ready.get(instanceId);
  }

  get size(): number {
    return this.ready.size;
  }

  /** Workers kept routable though discovery deleted them during an outage. */
  get heldCount(): number {
    return this.held.size;
  }

  /** A rank's load: the latest published metrics, with requests the larger of theirs and this process's own. */
  load(instanceId: bigint, dpRank: number): WorkerLoad {
    const key = rankKey(instanceId, dpRank);
    const metrics = this.reported.get(key);
    const reportedRequests = metrics ? metrics.numRequestsRunning + metrics.numRequestsWaiting : 0;
    return {
      activeRequests: Math.max(reportedRequests, this.inFlight.get(key) ?? 0),
      activeDecodeBlocks: metrics ? Number(metrics.activeKvBlocks) : 0,
      activePrefillTokens: metrics ? Number(metrics.prefillTokensInFlight) : 0,
    };
  }

  /** The latest metrics a rank published, if any. */
  reportedLoad(instanceId: bigint, dpRank: number): LoadMetrics | undefined {
    return this.reported.get(rankKey(instanceId, dpRank));
  }

  /** Counts a request of this process on a rank (metrics lag a step; a burst must not pile onto one worker). */
  started(instanceId: bigint, dpRank: number): void {
    const key = rankKey(instanceId, dpRank);
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
  }

  ended(instanceId: bigint, dpRank: number): void {
    const key = rankKey(instanceId, dpRank);
    const left = (this.inFlight.get(key) ?? 1) - 1;
    if (left > 0) this.inFlight.set(key, left);
    else this.inFlight.delete(key);
  }

  /** Whether every rank of the worker is above a threshold (then new requests are shed). */
  isBusy(worker: PoolWorker, thresholds: BusyThresholds): boolean {
    const { activeDecodeBlocks, activePrefillTokens } = thresholds;
    if (activeDecodeBlocks === undefined && activePrefillTokens === undefined) return false;
    for (let rank = 0; rank < worker.dataParallelSize; rank++) {
      const metrics = this.reported.get(rankKey(worker.instanceId, rank));
      if (metrics === undefined) return false;
      const total = Number(metrics.totalKvBlocks);
      const blocksBusy =
        activeDecodeBlocks !== undefined &&
        total > 0 &&
        Number(metrics.activeKvBlocks) / total > activeDecodeBlocks;
      const prefillBusy =
        activePrefillTokens !== undefined && Number(metrics.prefillTokensInFlight) > activePrefillTokens;
      if (!blocksBusy && !prefillBusy) return false;
    }
    return true;
  }

  /** Applies one published LoadMetrics message (exported for in-process feeds and tests). */
  applyLoad(metrics: LoadMetrics): void {
    this.reported.set(rankKey(metrics.workerId, metrics.dpRank), metrics);
  }

  /** Applies one discovery change (exported for tests that drive the pool by hand). */
  apply(event: DiscoveryEvent): void {
    const id = idOf(event.key);
    if (id === undefined) return;
    if (event.key.startsWith(this.instancePrefix)) {
      // Discovery speaks for the worker again: whatever it says replaces the suspicion.
      this.suspects.delete(id);
      if (event.type === "delete") this.records.delete(id);
      else {
        const record = parseInstanceRecord(event.value);
        if (record === undefined) return;
        this.records.set(id, record);
      }
    } else if (event.key.startsWith(this.mdcPrefix)) {
      if (event.type === "delete") this.cards.delete(event.key);
      else {
        const card = parseModelDeploymentCard(event.value);
        if (card === undefined) return;
        this.cards.set(event.key, { instanceId: id, card });
      }
    } else return;
    this.refresh(id);
  }

  private refresh(id: bigint): void {
    const before = this.ready.get(id);
    const record = this.records.get(id);
    let card: ModelDeploymentCard | undefined;
    for (const entry of this.cards.values()) {
      if (entry.instanceId === id) {
        card = entry.card;
        break;
      }
    }
    if (record === undefined || card === undefined) {
      if (before === undefined) return;
      if (this.holdThroughOutage(id)) return;
      this.ready.delete(id);
      for (const key of this.reported.keys()) if (key.startsWith(`${id}:`)) this.reported.delete(key);
      this.emit({ type: "removed", worker: before });
      return;
    }
    const worker: PoolWorker = {
      instanceId: id,
      address: record.address,
      model: card.name,
      names: [card.name, ...card.aliases],
      card,
      dataParallelSize: card.runtimeConfig.dataParallelSize,
      blockSize: card.kvCacheBlockSize,
      maxNumBatchedTokens: card.runtimeConfig.maxNumBatchedTokens,
      metadata: record.metadata,
    };
    this.releaseHold(id);
    this.ready.set(id, worker);
    if (before === undefined) this.emit({ type: "added", worker });
  }

  /**
   * Keeps a deleted worker while discovery is down or just came back: its owner is still re-registering what the
   * outage lost. The timer looks again once the grace period has passed.
   */
  private holdThroughOutage(id: bigint): boolean {
    if (this.held.has(id)) return true;
    const inOutage = this.discoveryDown || Date.now() - this.reconnectedAt < this.outageGraceMs;
    if (!inOutage) return false;
    const timer = setTimeout(() => {
      this.held.delete(id);
      // Still no discovery to ask, or it came back only just: refresh holds the worker again.
      this.refresh(id);
    }, this.outageGraceMs);
    timer.unref();
    this.held.set(id, timer);
    return true;
  }

  private releaseHold(id: bigint): void {
    const timer = this.held.get(id);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.held.delete(id);
  }

  private emit(change: PoolChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        this.options.onError?.(error);
      }
    }
  }
}
