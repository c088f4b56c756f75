// The one place a KvRouter is hosted over a worker pool: the frontend embeds it for `--router-mode kv`, the router
// app serves it over Connect, and disaggregated serving runs a second one over the prefill pool. It chooses the
// index (native or TypeScript, one fallback rule; approximate; or the standalone indexers), feeds it the pool's
// KV events, shares bookings with replicas, sweeps stale bookings, and forgets workers that leave the pool.
import {
  ApproxIndexer,
  activeSequencesSubject,
  computeLocalHashes,
  DEFAULT_KV_BLOCK_SIZE,
  type KvEventSource,
  type KvRouteDecision,
  KvRouter,
  type KvRouterOptions,
  type KvRouterSettings,
  kvEventSourceOver,
  kvRouterOptionsFromSettings,
  replicaSyncOver,
} from "@kvasir/kv";
import { createEmbeddedIndexer } from "@kvasir/native";
import { type EventPlane, formatInstanceId, kvEventsSubject, newInstanceId } from "@kvasir/runtime";
import type { ServingRequest } from "./engine-params.js";
import { routingError } from "./errors.js";
import type { RemoteIndexer } from "./remote-indexer.js";
import type { WorkerPool } from "./worker-pool.js";
import type { WorkerRouter } from "./worker-router.js";

/** Bookings older than this lost their free (a peer replica crashed mid-request) and are swept. */
const STALE_BOOKING_MS = 30 * 60 * 1000;
/** Leases are checked this often, so a lapsed booking stops holding load within a second. */
const SWEEP_EVERY_MS = 1000;
/** Batch budget assumed when a card does not give one. */
const DEFAULT_MAX_NUM_BATCHED_TOKENS = 8192;

export interface KvRouterHostDeps {
  pool: WorkerPool;
  events: EventPlane;
  log: {
    info(message: string, fields?: Record<string, unknown>): void;
    warn(message: string, fields?: Record<string, unknown>): void;
  };
  /** The standalone indexers, when `settings.useRemoteIndexer`. */
  remoteIndexer?: RemoteIndexer;
  /** Tokens per block used for hashing instead of the workers' cards (`--kv-cache-block-size`). */
  blockSize?: number;
  /** Replica id in shared bookings; random otherwise. */
  replicaId?: string;
  /** Lease of the bookings this host makes (the request timeout): a caller that never frees cannot hold load. */
  bookingLeaseMs?: number;
  /** Told of bookings freed because their lease ran out. */
  onExpired?(requestIds: readonly string[]): void;
  /** Told of every routing decision (overlap, timings), for the router metrics. */
  onRoute?(decision: KvRouteDecision): void;
  /** Told of every KV event batch applied (`ok`) or dropped (`malformed`), for the indexer metrics. */
  onEvents?(kinds: readonly string[] | "malformed"): void;
}

export interface KvRouterHost extends WorkerRouter {
  readonly core: KvRouter;
  /** `native`, `ts`, `approximate` or `remote`. */
  readonly indexer: string;
  prefillComplete(requestId: string): void;
  free(requestId: string): void;
  close(): void;
}

/** Hosts a KvRouter over `deps.pool`. Synchronous, so a pool that appears mid-run gets its router at once. */
export function hostKvRouter(settings: KvRouterSettings, deps: KvRouterHostDeps): KvRouterHost {
  const { pool, events } = deps;
  const options: KvRouterOptions = {
    ...kvRouterOptionsFromSettings(settings, deps.replicaId ?? formatInstanceId(newInstanceId())),
    ...(deps.blockSize !== undefined ? { blockSize: deps.blockSize } : {}),
    ...(deps.bookingLeaseMs !== undefined ? { bookingLeaseMs: deps.bookingLeaseMs } : {}),
  };
  let indexer: string;
  // With standalone indexers, the router's own approximate index, fed by its decisions: lookups fall back to it
  // while no indexer answers, so the indexers are no single point of failure.
  let fallback: ApproxIndexer | undefined;
  if (settings.useRemoteIndexer) {
    const remote = deps.remoteIndexer;
    if (remote === undefined) throw new Error("useRemoteIndexer needs the remote indexers");
    indexer = "remote";
    const approx = new ApproxIndexer({
      ttlMs: settings.approxTtlMs,
      now: Date.now,
      maxEntries: settings.approxMaxEntries,
    });
    fallback = approx;
    options.remoteFindMatches = (localHashes) =>
      remote.findMatchesOr(localHashes, () => approx.findMatches(localHashes));
  } else if (settings.useKvEvents) {
    const embedded = createEmbeddedIndexer(settings.indexerBackend, (message, fields) =>
      deps.log.warn(message, fields),
    );
    indexer = embedded.backend;
    options.indexer = embedded.indexer;
    options.computeLocalHashes = embedded.computeLocalHashes;
    options.events = countedEvents(
      kvEventSourceOver(events, [kvEventsSubject(pool.namespace, pool.component)], () =>
        deps.onEvents?.("malformed"),
      ),
      deps.onEvents,
    );
  } else {
    indexer = "approximate";
  }
  if (settings.replicaSync)
    options.replicaSync = replicaSyncOver(events, activeSequencesSubject(pool.namespace));
  const core = new KvRouter(options);
  const sweep = setInterval(() => {
    const expired = core.sweepExpired();
    if (expired.length > 0) deps.onExpired?.(expired);
    core.sweepStale(STALE_BOOKING_MS);
  }, SWEEP_EVERY_MS);
  sweep.unref();
  // A worker that leaves takes its cached blocks and booked requests with it.
  const stopFollowing = pool.onChange((change) => {
    if (change.type !== "removed") return;
    core.removeWorker(change.worker.instanceId);
    fallback?.removeWorker(change.worker.instanceId);
  });
  deps.log.info("kv router started", {
    component: pool.component,
    indexer,
    replica_sync: settings.replicaSync,
  });

  return {
    core,
    indexer,
    async route(request, workers, context) {
      const signal = context?.signal;
      try {
        const routeRequest = kvRouteRequest(request, deps.blockSize ?? workers[0]?.blockSize);
        // Hashed here once when the fallback index must learn where the prompt went.
        const localHashes = fallback && hashesOf(routeRequest, options.blockSize);
        const decision = await core.route(
          localHashes ? { ...routeRequest, localHashes } : routeRequest,
          workers.map((w) => ({
            workerId: w.instanceId,
            dataParallelSize: w.dataParallelSize,
            maxNumBatchedTokens: w.maxNumBatchedTokens || DEFAULT_MAX_NUM_BATCHED_TOKENS,
            ...(w.card.perfProfile ? { perfProfile: w.card.perfProfile } : {}),
          })),
          signal ? { signal } : {},
        );
        deps.onRoute?.(decision);
        if (localHashes) fallback?.recordRouting(decision.workerId, decision.dpRank, localHashes);
        return { instanceId: decision.workerId, dpRank: decision.dpRank };
      } catch (error) {
        throw routingError(error, request.model);
      }
    },
    prefillComplete: (requestId) => core.markPrefillComplete(requestId),
    free: (requestId) => core.free(requestId),
    close() {
      clearInterval(sweep);
      stopFollowing();
      core.close();
    },
  };
}

/** The KvRouter's request for a pipeline request. */
export function kvRouteRequest(request: ServingRequest, blockSize: number | undefined) {
  return {
    requestId: request.requestId,
    tokenIds: request.tokenIds,
    priority: request.priority,
    ...(blockSize !== undefined ? { blockSize } : {}),
    ...(request.loraName ? { loraName: request.loraName } : {}),
    ...(request.cacheSalt ? { cacheSalt: request.cacheSalt } : {}),
  };
}

/** The prompt's local block hashes, as the KvRouter would compute them. */
function hashesOf(request: ReturnType<typeof kvRouteRequest>, defaultBlockSize: number | undefined) {
  return computeLocalHashes(
    request.tokenIds,
    request.blockSize ?? defaultBlockSize ?? DEFAULT_KV_BLOCK_SIZE,
    {
      ...(request.loraName ? { loraName: request.loraName } : {}),
      ...(request.cacheSalt ? { cacheSalt: request.cacheSalt } : {}),
    },
  );
}

function countedEvents(source: KvEventSource, count: KvRouterHostDeps["onEvents"]): KvEventSource {
  if (count === undefined) return source;
  return {
    subscribe: (handler) =>
      source.subscribe((batch) => {
        count(batch.map((event) => event.data.kind));
        handler(batch);
      }),
  };
}
