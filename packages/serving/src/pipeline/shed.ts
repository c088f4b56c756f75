// Load shedding (Dynamo's busy thresholds): a new request is refused at once while every worker that could take
// it is above a threshold, rather than queued behind work that already overloads the pool.
import { overloaded } from "../errors.js";
import type { BusyThresholds } from "../worker-pool.js";
import type { Stage, TargetFor } from "./types.js";

export function shed(targetFor: TargetFor, thresholds: BusyThresholds): Stage {
  const active = thresholds.activeDecodeBlocks !== undefined || thresholds.activePrefillTokens !== undefined;
  return (next) => {
    if (!active) return next;
    return async function* (request, ctx) {
      const target = targetFor(request);
      if (target !== undefined) {
        const workers = target.pool.workers(request.model);
        if (workers.length > 0 && workers.every((w) => target.pool.isBusy(w, thresholds))) {
          throw overloaded(request.model);
        }
      }
      yield* next(request, ctx);
    };
  };
}
