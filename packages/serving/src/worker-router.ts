// How a worker is chosen for a request. Simple policies live here; `kv` is hosted by kv-router-host.ts and
// `--use-remote-router` asks a standalone router (remote-router.ts). The pipeline's route stage uses any of them.
import { createSelector, type Rng, type WorkerCandidate, type WorkerSelector } from "@kvasir/kv";
import type { RouteDecision, ServingRequest } from "./engine-params.js";
import { noWorker, ServingError } from "./errors.js";
import type { PoolWorker, WorkerPool } from "./worker-pool.js";

export const routerModes = ["round-robin", "random", "least-loaded", "direct", "kv"] as const;
export type RouterMode = (typeof routerModes)[number];

/**
 * Picks a worker for a request among `workers` (the pool's, less those that already failed this request). The
 * route stage tells the router when the request has its first token and when it ends, so a router that tracks
 * active sequences stays in step; simple policies ignore both.
 */
export interface WorkerRouter {
  route(
    request: ServingRequest,
    workers: readonly PoolWorker[],
    context?: RouteContext,
  ): RouteDecision | Promise<RouteDecision>;
  prefillComplete?(requestId: string): void;
  free?(requestId: string): void;
  close?(): void | Promise<void>;
}

/** What a router may need beyond the request and its candidates. */
export interface RouteContext {
  /** Cancels a request still waiting in a router's queue. */
  signal?: AbortSignal;
  /**
   * Workers left out of the candidates (those that failed this request, those suspect in the pool): a router
   * that chooses from its own view (a remote one) is told.
   */
  excluded?: ReadonlySet<bigint>;
}

const NO_HASHES = new BigUint64Array(0);

/** Every (worker, dp rank) with its load as the pool sees it; workers come sorted by the pool. */
function candidatesOf(workers: readonly PoolWorker[], pool: WorkerPool): WorkerCandidate[] {
  return workers.flatMap((w) =>
    Array.from({ length: w.dataParallelSize }, (_, dpRank) => ({
      workerId: w.instanceId,
      dpRank,
      load: pool.load(w.instanceId, dpRank),
    })),
  );
}

/** Round-robin, random or least-loaded over @kvasir/kv's selectors, one selector per model. */
export function selectorRouter(
  mode: "round-robin" | "random" | "least-loaded",
  pool: WorkerPool,
  rng: Rng = Math.random,
): WorkerRouter {
  const selectors = new Map<string, WorkerSelector>();
  return {
    route(request, workers) {
      let selector = selectors.get(request.model);
      if (!selector) {
        selector = createSelector(mode, { rng });
        selectors.set(request.model, selector);
      }
      const chosen = selector.select(candidatesOf(workers, pool), {
        localHashes: NO_HASHES,
        promptTokens: request.tokenIds.length,
        blockSize: workers[0]?.blockSize ?? 1,
      });
      if (!chosen) throw noWorker(request.model);
      return { instanceId: chosen.workerId, dpRank: chosen.dpRank };
    },
  };
}

/** The worker named by `nvext.backend_instance_id`; no fallback, so a gone worker is a clear 503. */
export function directRouter(): WorkerRouter {
  return {
    route(request, workers) {
      const wanted = request.backendInstanceId;
      if (wanted === undefined) {
        throw new ServingError("invalid_request", "router mode 'direct' needs nvext.backend_instance_id", {
          param: "nvext.backend_instance_id",
        });
      }
      const worker = workers.find((w) => w.instanceId === wanted);
      if (!worker) {
        throw new ServingError(
          "no_worker_available",
          `Worker ${wanted.toString(16)} is not serving this model.`,
        );
      }
      return { instanceId: worker.instanceId, dpRank: 0 };
    },
  };
}
