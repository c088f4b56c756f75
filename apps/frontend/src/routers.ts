import { createSelector, type Rng, type WorkerCandidate, type WorkerSelector } from "@kvasir/kv";
import { HttpError, noWorker } from "./errors.js";
import type { LoadTracker } from "./load-tracker.js";
import type { Router, RouterMode, WorkerInstance } from "./route-request.js";

const NO_HASHES = new BigUint64Array(0);

/** Every (worker, dp rank) in a stable order, with its load as the tracker sees it. */
function candidatesOf(workers: readonly WorkerInstance[], load: LoadTracker): WorkerCandidate[] {
  const sorted = [...workers].sort((a, b) =>
    a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0,
  );
  return sorted.flatMap((w) =>
    Array.from({ length: w.dataParallelSize }, (_, dpRank) => ({
      workerId: w.instanceId,
      dpRank,
      load: load.workerLoad(w.instanceId, dpRank),
    })),
  );
}

/**
 * A router over @kvasir/kv's worker selectors (round-robin, random, least-loaded), one selector per model so
 * each model's round-robin cycles over its own workers.
 */
export function selectorRouter(
  mode: "round-robin" | "random" | "least-loaded",
  load: LoadTracker,
  rng: Rng = Math.random,
): Router {
  const selectors = new Map<string, WorkerSelector>();
  return {
    route(request, workers) {
      let selector = selectors.get(request.model);
      if (!selector) {
        selector = createSelector(mode, { rng });
        selectors.set(request.model, selector);
      }
      const chosen = selector.select(candidatesOf(workers, load), {
        localHashes: NO_HASHES,
        promptTokens: request.tokenIds.length,
        blockSize: request.blockSize,
      });
      if (!chosen) throw noWorker(request.model);
      return { instanceId: chosen.workerId, dpRank: chosen.dpRank };
    },
  };
}

/** The worker named by `nvext.backend_instance_id`; no fallback, so a gone worker is a clear 503. */
export function directRouter(): Router {
  return {
    route(request, workers) {
      const wanted = request.backendInstanceId;
      if (wanted === undefined) {
        throw new HttpError(
          400,
          "router mode 'direct' needs nvext.backend_instance_id",
          "invalid_request",
          "nvext.backend_instance_id",
        );
      }
      const worker = workers.find((w) => w.instanceId === wanted);
      if (!worker) {
        throw new HttpError(
          503,
          `Worker ${wanted.toString(16)} is not serving this model.`,
          "no_worker_available",
        );
      }
      return { instanceId: worker.instanceId, dpRank: 0 };
    },
  };
}

/** The router of a mode that needs no I/O; `kv` is built by createKvRouting (kv-routing.ts). */
export function createRouter(mode: Exclude<RouterMode, "kv">, load: LoadTracker): Router {
  return mode === "direct" ? directRouter() : selectorRouter(mode, load);
}
