// Disaggregated serving (Dynamo's prefill router): when a model has prefill workers beside its decode workers, the
// prompt runs first on a prefill worker (one token, not streamed), whose transfer parameters (vLLM's
// kv_transfer_params, SGLang's bootstrap fields: an opaque dict passed on verbatim) send the request on to a decode
// worker that pulls the prompt's KV blocks. A prefill the request itself caused to fail (4xx) goes back to the
// client; any other prefill failure falls back to prefill on the decode worker.

import { getTracer, recordSpanError } from "@kvasir/telemetry";
import { trace } from "@opentelemetry/api";
import type { RouteDecision, ServingRequest } from "../engine-params.js";
import { isRequestError } from "../errors.js";
import { type Handler, type ServingContext, type Stage, servingContext } from "./types.js";

/** vLLM's prefill-side kv_transfer_params: compute the prompt, keep its KV blocks for a remote decode. */
export const REMOTE_DECODE_PARAMS = JSON.stringify({
  do_remote_decode: true,
  do_remote_prefill: false,
  remote_engine_id: null,
  remote_block_ids: null,
  remote_host: null,
  remote_port: null,
});

export interface DisaggregationOptions {
  /** Whether the request's model is served disaggregated now (prefill and decode workers both present). */
  active(request: ServingRequest): boolean;
  /**
   * Conditional disaggregation: true when the prompt is better prefilled on the decode worker (short, or mostly
   * cached there).
   */
  prefillLocally?(request: ServingRequest): boolean | Promise<boolean>;
  /** The prefill leg's own pipeline (route over the prefill pool, retry, call the worker). */
  prefill: Handler;
}

/** The prefill leg of `request`: one token, no stop conditions that need more, asking to keep the KV for decode. */
export function prefillRequest(request: ServingRequest): ServingRequest {
  // A pinned worker is a decode worker: the prefill pool is chosen by its own router.
  const { backendInstanceId: _decodeWorker, ...rest } = request;
  return {
    ...rest,
    params: { ...request.params, maxTokens: 1, minTokens: 0 },
    disaggParamsJson: REMOTE_DECODE_PARAMS,
  };
}

export function disaggregate(options: DisaggregationOptions): Stage {
  return (next) =>
    async function* (request, ctx) {
      // Already carrying transfer parameters (a caller did the prefill), or not disaggregated: a whole request.
      if (request.disaggParamsJson || !options.active(request)) {
        yield* next(request, ctx);
        return;
      }
      ctx.phase = "decode";
      if (await options.prefillLocally?.(request)) {
        ctx.onDisaggregation?.("local");
        yield* next(request, ctx);
        return;
      }
      let prefilled: { params: string; worker: RouteDecision };
      try {
        prefilled = await runPrefill(options.prefill, request, ctx);
      } catch (error) {
        if (ctx.signal.aborted || isRequestError(error)) throw error;
        ctx.onDisaggregation?.("fallback", error);
        yield* next(request, ctx);
        return;
      }
      ctx.onDisaggregation?.("remote");
      // The decode leg's spans hang under a `decode` span, beside the `prefill` one.
      const span = getTracer().startSpan(
        "decode",
        { attributes: { request_id: request.requestId } },
        ctx.trace,
      );
      ctx.trace = trace.setSpan(ctx.trace, span);
      try {
        for await (const output of next({ ...request, disaggParamsJson: prefilled.params }, ctx)) {
          output.prefillWorker = prefilled.worker;
          yield output;
        }
      } catch (error) {
        recordSpanError(span, error);
        throw error;
      } finally {
        span.end();
      }
    };
}

/** Runs the prefill leg to its end under a `prefill` span: the worker's transfer parameters, and the worker. */
async function runPrefill(
  prefill: Handler,
  request: ServingRequest,
  ctx: ServingContext,
): Promise<{ params: string; worker: RouteDecision }> {
  const span = getTracer().startSpan(
    "prefill",
    { attributes: { request_id: request.requestId, prompt_tokens: request.tokenIds.length } },
    ctx.trace,
  );
  const leg = servingContext(ctx.signal, {
    trace: trace.setSpan(ctx.trace, span),
    ...(ctx.onStage ? { onStage: ctx.onStage } : {}),
    ...(ctx.onMove ? { onMove: ctx.onMove } : {}),
  });
  leg.phase = "prefill";
  try {
    let prefilled: { params: string; worker: RouteDecision } | undefined;
    for await (const output of prefill(prefillRequest(request), leg)) {
      if (output.disaggParamsJson) prefilled = { params: output.disaggParamsJson, worker: output.worker };
    }
    if (prefilled === undefined) throw new Error("the prefill worker returned no transfer parameters");
    span.setAttribute("worker_id", prefilled.worker.instanceId.toString(16));
    return prefilled;
  } catch (error) {
    recordSpanError(span, error);
    throw error;
  } finally {
    span.end();
  }
}
