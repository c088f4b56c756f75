// Picks the worker of each attempt and keeps the router's and the pool's bookkeeping in step with the stream.
import { formatInstanceId } from "@kvasir/runtime";
import { withSpan } from "@kvasir/telemetry";
import { noWorker, ServingError } from "../errors.js";
import type { Stage, TargetFor } from "./types.js";

export function route(targetFor: TargetFor): Stage {
  return (next) =>
    async function* (request, ctx) {
      const target = targetFor(request);
      if (target === undefined) throw noWorker(request.model);
      const { pool, router } = target;
      // A request naming its worker (nvext.backend_instance_id, Generate's worker_id) may go there only.
      const pinned = request.backendInstanceId;
      const workers = pool
        .workers(request.model)
        .filter((w) => !ctx.failed.has(w.instanceId) && (pinned === undefined || w.instanceId === pinned));
      if (workers.length === 0) {
        if (ctx.failed.size > 0)
          throw new ServingError("worker_failed", "Every worker tried for this request failed.");
        if (pinned !== undefined)
          throw new ServingError(
            "no_worker_available",
            `Worker ${pinned.toString(16)} is not serving '${request.model}'.`,
          );
        throw noWorker(request.model);
      }
      ctx.onStage?.("route", ctx.phase);
      const decision = await withSpan(
        "route",
        { request_id: request.requestId, model: request.model, candidates: workers.length },
        async (span) => {
          const excluded = new Set([...ctx.failed, ...pool.suspectIds()]);
          const chosen = await router.route(request, workers, { signal: ctx.signal, excluded });
          span.setAttributes({ worker_id: formatInstanceId(chosen.instanceId), dp_rank: chosen.dpRank });
          return chosen;
        },
        { parent: ctx.trace },
      );
      const worker = workers.find((w) => w.instanceId === decision.instanceId);
      if (worker === undefined) {
        router.free?.(request.requestId);
        throw new ServingError("worker_failed", "The router chose a worker that is not serving this model.");
      }
      ctx.attempt = { worker, dpRank: decision.dpRank, pool };
      ctx.onStage?.("dispatch", ctx.phase);
      pool.started(worker.instanceId, decision.dpRank);
      let first = true;
      try {
        for await (const output of next(request, ctx)) {
          if (first) {
            first = false;
            router.prefillComplete?.(request.requestId);
          }
          yield output;
        }
      } finally {
        pool.ended(worker.instanceId, decision.dpRank);
        router.free?.(request.requestId);
      }
    };
}
