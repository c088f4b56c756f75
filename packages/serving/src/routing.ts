// Which pool and router each request goes to, for the frontend and the router's Generate alike. Whole requests of
// a model go to its aggregated pool, else its decode pool; while the model has prefill workers beside decode
// workers it is served disaggregated: the prefill leg goes to the prefill pool and the rest to the decode pool.
// Each pool gets its own router of the configured mode, made when the pool is first used (for `kv`, the KvRouter
// host over that pool); with `--use-remote-router` whole requests ask the standalone routers.
import type { KvRouterSettings } from "@kvasir/kv";
import { type ClientOptions, type Discovery, type EventPlane, followAddresses } from "@kvasir/runtime";
import type { ServingRequest } from "./engine-params.js";
import { ServingError } from "./errors.js";
import { hostKvRouter, type KvRouterHost, type KvRouterHostDeps, kvRouteRequest } from "./kv-router-host.js";
import type { RoutingTarget, TargetFor } from "./pipeline/types.js";
import type { RemoteIndexer } from "./remote-indexer.js";
import { remoteRouter } from "./remote-router.js";
import type { WorkerPool } from "./worker-pool.js";
import type { WorkerPools } from "./worker-pools.js";
import { directRouter, type RouterMode, selectorRouter, type WorkerRouter } from "./worker-router.js";

export interface RoutingOptions {
  mode: RouterMode;
  /** The KV router's settings (`--router-mode kv`, and always for the prefill pool). */
  kv: KvRouterSettings;
  /** Ask standalone routers (`kvasir router`) for whole and decode requests. */
  useRemoteRouter?: boolean;
  /** `--kv-cache-block-size`: hashing block size instead of the workers' cards. */
  blockSize?: number;
  remoteIndexer?: RemoteIndexer;
  /**
   * Conditional disaggregation (Dynamo's max_local_prefill_length): a prompt whose part not cached on the best
   * decode worker is at most this many tokens is prefilled on the decode worker. 0 sends every prompt to prefill.
   */
  maxLocalPrefillLength?: number;
  /** Told of every KV routing decision and every KV event batch (the router app's metrics). */
  onRoute?: KvRouterHostDeps["onRoute"];
  onEvents?: KvRouterHostDeps["onEvents"];
  /** Lease of every booking (the request timeout), and who hears of lapsed ones. */
  bookingLeaseMs?: number;
  onExpired?: KvRouterHostDeps["onExpired"];
}

/**
 * What routing needs of the process it runs in: its planes, its id in shared router bookings (`instanceHex`) and
 * the TLS and token for calls to standalone routers. The component host has all of it.
 */
export interface RoutingPlanes {
  namespace: string;
  discovery: Discovery;
  events: EventPlane;
  instanceHex: string;
  clientOptions?: ClientOptions;
}

export interface Routing {
  /** The target of a whole request, or of the decode leg of a disaggregated one. */
  targetFor: TargetFor;
  /** The target of a prefill leg. */
  prefillTargetFor: TargetFor;
  /** Whether the request's model is served disaggregated right now. */
  disaggregated(request: ServingRequest): boolean;
  /** Conditional disaggregation: whether the decode worker should prefill this prompt itself. */
  prefillLocally(request: ServingRequest): Promise<boolean>;
  /** The KV router over `pool` that requests of that pool are routed by (made on first use). */
  kvRouterOf(pool: WorkerPool): KvRouterHost;
  close(): void;
}

interface Logs {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export async function createRouting(
  planes: RoutingPlanes,
  pools: WorkerPools,
  options: RoutingOptions,
  log: Logs,
): Promise<Routing> {
  const { mode } = options;
  const remote =
    mode === "kv" && options.useRemoteRouter
      ? remoteRouter(
          await followAddresses(planes.discovery, `v1/instances/${planes.namespace}/router/`),
          options.bookingLeaseMs,
          planes.clientOptions,
        )
      : undefined;
  const kvHosts = new Map<WorkerPool, KvRouterHost>();
  const kvRouter = (pool: WorkerPool): KvRouterHost => {
    const existing = kvHosts.get(pool);
    if (existing) return existing;
    const host = hostKvRouter(options.kv, {
      pool,
      events: planes.events,
      log,
      replicaId: planes.instanceHex,
      ...(options.blockSize !== undefined ? { blockSize: options.blockSize } : {}),
      ...(options.remoteIndexer ? { remoteIndexer: options.remoteIndexer } : {}),
      ...(options.onRoute ? { onRoute: options.onRoute } : {}),
      ...(options.onEvents ? { onEvents: options.onEvents } : {}),
      ...(options.bookingLeaseMs !== undefined ? { bookingLeaseMs: options.bookingLeaseMs } : {}),
      ...(options.onExpired ? { onExpired: options.onExpired } : {}),
    });
    kvHosts.set(pool, host);
    routers.set(pool, host);
    return host;
  };
  const routers = new Map<WorkerPool, WorkerRouter>();
  const targets = new Map<WorkerPool, RoutingTarget>();
  const targetOf = (pool: WorkerPool): RoutingTarget => {
    let target = targets.get(pool);
    if (target === undefined) {
      // The prefill pool is always routed by KV overlap: that is where prompts meet their cached prefixes.
      const router =
        pool === pools.prefill
          ? kvRouter(pool)
          : (remote ??
            (mode === "kv"
              ? kvRouter(pool)
              : mode === "direct"
                ? directRouter()
                : selectorRouter(mode, pool)));
      if (router !== remote) routers.set(pool, router);
      target = { pool, router };
      targets.set(pool, target);
    }
    return target;
  };
  const disaggregated = (request: ServingRequest) =>
    pools.prefill.workers(request.model).length > 0 && pools.decode.workers(request.model).length > 0;

  const maxLocal = options.maxLocalPrefillLength ?? 0;
  return {
    targetFor(request) {
      const pool = disaggregated(request) ? pools.decode : pools.generationPool(request.model);
      if (pool !== undefined) return targetOf(pool);
      if (pools.prefill.workers(request.model).length === 0) return undefined;
      throw new ServingError(
        "no_worker_available",
        `'${request.model}' has prefill workers only; no aggregated or decode worker is serving it.`,
      );
    },
    prefillTargetFor(request) {
      return pools.prefill.workers(request.model).length > 0 ? targetOf(pools.prefill) : undefined;
    },
    disaggregated,
    kvRouterOf: kvRouter,
    async prefillLocally(request) {
      if (maxLocal <= 0) return false;
      const prompt = request.tokenIds.length;
      if (prompt <= maxLocal) return true;
      targetOf(pools.decode);
      // Only a KV router knows what the decode workers cache; without one, only the length decides.
      const kv = kvHosts.get(pools.decode);
      if (kv === undefined) return false;
      const workers = pools.decode.workers(request.model);
      const blockSize = options.blockSize ?? workers[0]?.blockSize;
      const loads = await kv.core.potentialLoads(
        kvRouteRequest(request, blockSize),
        workers.map((w) => ({
          workerId: w.instanceId,
          dataParallelSize: w.dataParallelSize,
          maxNumBatchedTokens: w.maxNumBatchedTokens,
        })),
      );
      const cachedBlocks = Math.max(0, ...loads.map((l) => l.overlapBlocks));
      return prompt - cachedBlocks * (blockSize ?? 0) <= maxLocal;
    },
    close() {
      void remote?.close?.();
      for (const router of routers.values()) void router.close?.();
    },
  };
}
