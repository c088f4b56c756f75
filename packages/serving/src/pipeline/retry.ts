// A worker that fails before the request's first token is replaced by another, up to `limit` times.
import { isRequestError, ServingError } from "../errors.js";
import type { ServingContext, Stage } from "./types.js";

/** Whether a failure may be tried again on another worker: the worker failed, not the request or the caller. */
export function isWorkerFailure(error: unknown, ctx: ServingContext): boolean {
  return !ctx.signal.aborted && !(error instanceof ServingError) && !isRequestError(error);
}

export function retry(limit: number): Stage {
  return (next) =>
    async function* (request, ctx) {
      for (let retries = 0; ; retries++) {
        let produced = false;
        try {
          for await (const output of next(request, ctx)) {
            produced = true;
            yield output;
          }
          return;
        } catch (error) {
          const attempt = ctx.attempt;
          if (produced || retries >= limit || attempt === undefined || !isWorkerFailure(error, ctx))
            throw error;
          ctx.failed.add(attempt.worker.instanceId);
          ctx.onMove?.({
            kind: "retry",
            requestId: request.requestId,
            model: request.model,
            instanceId: attempt.worker.instanceId,
            generated: 0,
            error,
          });
        }
      }
    };
}
