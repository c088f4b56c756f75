// The terminal handler: streams the chosen worker's WorkerService.Generate and turns its responses into outputs.
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { WorkerService } from "@kvasir/protocol";
import { formatInstanceId } from "@kvasir/runtime";
import { getTracer, recordSpanError, traceCallOptions } from "@kvasir/telemetry";
import { trace } from "@opentelemetry/api";
import {
  type EngineOutput,
  finishOfResponse,
  logprobsOfResponse,
  toWorkerRequest,
} from "../engine-params.js";
import type { Handler } from "./types.js";

export type WorkerClient = Client<typeof WorkerService>;

/** Why an unfinished worker stream is cancelled; one shared value, as building an AbortError per call is costly. */
const LEFT_EARLY = new Error("the caller no longer needs this stream");

/** Calls the worker of `ctx.attempt`; `clientFor` keeps one client per address. */
export function callWorker(clientFor: (address: string) => WorkerClient): Handler {
  return async function* (request, ctx) {
    const attempt = ctx.attempt;
    if (attempt === undefined) throw new Error("callWorker needs a route stage before it");
    const { worker, dpRank } = attempt;
    const span = getTracer().startSpan(
      "generate",
      {
        attributes: {
          request_id: request.requestId,
          worker_id: formatInstanceId(worker.instanceId),
          dp_rank: dpRank,
          prompt_tokens: request.tokenIds.length,
        },
      },
      ctx.trace,
    );
    // One controller per attempt, so leaving early (a stop string, a client gone) cancels the worker's stream.
    const controller = new AbortController();
    const onAbort = () => controller.abort(ctx.signal.reason);
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener("abort", onAbort, { once: true });
    let completed = false;
    try {
      // The generate span is the parent of the call's client span, handed over explicitly (no async context).
      const stream = clientFor(worker.address).generate(toWorkerRequest(request, dpRank), {
        signal: controller.signal,
        timeoutMs: 0,
        ...traceCallOptions(trace.setSpan(ctx.trace, span)),
        ...(request.headers ? { headers: request.headers } : {}),
      });
      const promptTokens = request.tokenIds.length;
      let completionTokens = 0;
      let cachedTokens = 0;
      let final: EngineOutput | undefined;
      // One value for every output of the attempt: nothing downstream changes it.
      const servedBy = { instanceId: worker.instanceId, dpRank };
      for await (const response of stream) {
        // The latest figure: the mocker knows its hits from the start, vLLM and SGLang tell them with the last output.
        if (response.usage) cachedTokens = response.usage.cachedTokens;
        completionTokens += response.tokenIds.length;
        const output: EngineOutput = {
          tokenIds: response.tokenIds,
          usage: { promptTokens, completionTokens, cachedTokens },
          worker: servedBy,
        };
        const finish = finishOfResponse(response);
        if (response.disaggParamsJson) output.disaggParamsJson = response.disaggParamsJson;
        if (response.logprobs.length > 0) output.logprobs = logprobsOfResponse(response);
        if (response.embedding.length > 0) output.embedding = response.embedding;
        // The stream ends right after its finish: read that end (trailers, status, the client span's end) first.
        if (finish) {
          output.finishReason = finish;
          final = output;
        } else yield output;
      }
      if (final === undefined) {
        // A stream that ends without a finish reason was cut off (the worker is draining or died).
        throw new ConnectError("worker stream ended without a finish reason", Code.Unavailable);
      }
      completed = true;
      yield final;
    } catch (error) {
      recordSpanError(span, error);
      throw error;
    } finally {
      span.end();
      ctx.signal.removeEventListener("abort", onAbort);
      if (!completed) controller.abort(LEFT_EARLY);
    }
  };
}
