// Request migration (Dynamo's): a worker that fails mid-stream is replaced, and the new worker gets the prompt
// plus the tokens generated so far, so the client's stream goes on where it stopped; up to `limit` times.
import type { ServingRequest } from "../engine-params.js";
import { moveOff } from "./retry.js";
import type { Stage } from "./types.js";

/**
 * The request that continues `request` after `generated` tokens. A prefill's transfer parameters cover the prompt
 * only and were consumed by the worker that failed, so the new worker computes prompt and tokens itself.
 */
export function continuation(request: ServingRequest, generated: readonly number[]): ServingRequest {
  if (generated.length === 0) return request;
  const { disaggParamsJson: _consumed, ...rest } = request;
  return {
    ...rest,
    tokenIds: [...request.tokenIds, ...generated],
    params: {
      ...request.params,
      maxTokens: request.params.maxTokens - generated.length,
      minTokens: Math.max(0, request.params.minTokens - generated.length),
    },
  };
}

export function migrate(limit: number): Stage {
  return (next) =>
    async function* (request, ctx) {
      const generated: number[] = [];
      let cachedTokens: number | undefined;
      for (let migrations = 0; ; migrations++) {
        try {
          for await (const output of next(continuation(request, generated), ctx)) {
            for (const id of output.tokenIds) generated.push(id);
            // Usage counts the client's request: its own prompt, every token generated, the first worker's hits.
            // The first worker's figure as it stands (real engines tell their hits with the last output).
            if (migrations === 0 || cachedTokens === undefined) cachedTokens = output.usage.cachedTokens;
            // Each output is a fresh object of this request's attempt, so its usage is replaced in place.
            output.usage = {
              promptTokens: request.tokenIds.length,
              completionTokens: generated.length,
              cachedTokens,
            };
            yield output;
          }
          return;
        } catch (error) {
          const moved = generated.length > 0;
          if (!moved || migrations >= limit || !moveOff(ctx, request, "migration", generated.length, error))
            throw error;
        }
      }
    };
}
