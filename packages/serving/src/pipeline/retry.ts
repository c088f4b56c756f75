// A worker that fails before the request's first token is replaced by another, up to `limit` times.
import { Code, ConnectError } from "@connectrpc/connect";
import type { ServingRequest } from "../engine-params.js";
import { isRequestError, ServingError } from "../errors.js";
import type { MoveInfo, ServingContext, Stage } from "./types.js";

/**
 * When the current attempt's worker failed (not the request, nor the caller who left), marks that worker failed
 * for this request, tells `onMove`, and returns true: the caller may try another worker.
 */
export function moveOff(
  ctx: ServingContext,
  request: ServingRequest,
  kind: MoveInfo["kind"],
  generated: number,
  error: unknown,
): boolean {
  const attempt = ctx.attempt;
  if (attempt === undefined || ctx.signal.aborted) return false;
  if (error instanceof ServingError || isRequestError(error)) return false;
  const instanceId = attempt.worker.instanceId;
  ctx.failed.add(instanceId);
  // Unreachable (refused, reset, cut off): other requests should not pick it either until discovery decides.
  if (error instanceof ConnectError && error.code === Code.Unavailable) attempt.pool.markSuspect(instanceId);
  ctx.onMove?.({ kind, requestId: request.requestId, model: request.model, instanceId, generated, error });
  return true;
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
          if (produced || retries >= limit || !moveOff(ctx, request, "retry", 0, error)) throw error;
        }
      }
    };
}
