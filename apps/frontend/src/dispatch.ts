import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { FinishReason, type GenerateResponse, type WorkerService } from "@kvasir/protocol";
import { formatInstanceId } from "@kvasir/runtime";
import { getTracer, recordSpanError, withSpan } from "@kvasir/telemetry";
import { type Context, context, trace } from "@opentelemetry/api";
import { HttpError, noWorker, overloaded } from "./errors.js";
import type { LoadTracker } from "./load-tracker.js";
import type { RouteDecision, RouteRequest, Router, WorkerInstance } from "./route-request.js";

export type WorkerClient = Client<typeof WorkerService>;

/** Everything the worker needs besides the prompt, in engine terms. */
export interface EngineParams {
  maxTokens: number;
  stopTokenIds: number[];
  ignoreEos: boolean;
  minTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: bigint;
}

export interface DispatchRequest extends RouteRequest {
  params: EngineParams;
  /** Extra headers for the worker call (request id; trace context comes from the client's interceptors). */
  headers: Record<string, string>;
}

export type EngineFinish = "stop" | "length" | "cancelled";

export interface EngineUsage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

/** One step of a request's output: new token ids, and on the last step why it ended. */
export interface EngineOutput {
  tokenIds: number[];
  finishReason?: EngineFinish;
  usage: EngineUsage;
  /** The worker (and its dp rank) that produced these tokens. */
  worker: RouteDecision;
}

export interface DispatcherDeps {
  workersOf(model: string): readonly WorkerInstance[];
  router: Router;
  load: LoadTracker;
  clientFor(address: string): WorkerClient;
  /** How many times a request may move to another worker after its first token (Dynamo's --migration-limit). */
  migrationLimit: number;
  /** Attempts on other workers when one fails before the first token. */
  retryLimit: number;
  /** Whether a worker is above the load-shedding thresholds; new requests are refused when all are. */
  busy?(worker: WorkerInstance): boolean;
  onRetry?(info: {
    requestId: string;
    model: string;
    instanceId: bigint;
    generated: number;
    error: unknown;
  }): void;
}

/** Why an unfinished worker stream is cancelled; one shared value, as building an AbortError per call is costly. */
const LEFT_EARLY = new Error("the frontend no longer needs this stream");

const finishOf: Partial<Record<FinishReason, EngineFinish>> = {
  [FinishReason.STOP]: "stop",
  [FinishReason.LENGTH]: "length",
  [FinishReason.CANCELLED]: "cancelled",
};

/** Errors that say the request itself is wrong, so another worker would refuse it too. */
function isRequestError(error: unknown): boolean {
  return (
    error instanceof ConnectError && (error.code === Code.InvalidArgument || error.code === Code.OutOfRange)
  );
}

/**
 * Runs a request on a worker chosen by the router and streams its outputs. A worker that fails before the first
 * token is replaced by another; one that fails mid-stream is replaced too (request migration: the new worker gets
 * the prompt plus the tokens generated so far) up to `migrationLimit` times.
 */
export interface DispatchOptions {
  /** Client disconnect or timeout: cancels the worker's stream. */
  signal: AbortSignal;
  /** Trace context the route and generate spans hang from. */
  parent: Context;
  /** Told when routing starts and when the request is handed to a worker (stage metrics). */
  onStage?(stage: "route" | "dispatch"): void;
}

export async function* dispatch(
  deps: DispatcherDeps,
  request: DispatchRequest,
  options: DispatchOptions,
): AsyncGenerator<EngineOutput> {
  const { signal, parent } = options;
  const tracer = getTracer();
  const failed = new Set<bigint>();
  const generated: number[] = [];
  const promptTokens = request.tokenIds.length;
  let cachedTokens = 0;
  let retries = 0;
  let migrations = 0;
  for (;;) {
    const workers = deps.workersOf(request.model).filter((w) => !failed.has(w.instanceId));
    if (workers.length === 0) {
      if (failed.size === 0) throw noWorker(request.model);
      throw new HttpError(503, "Every worker tried for this request failed.", "worker_failed");
    }
    // Load shedding applies to new requests only; one already streaming keeps its place.
    if (generated.length === 0 && failed.size === 0 && deps.busy && workers.every(deps.busy)) {
      throw overloaded(request.model);
    }
    const tokenIds = [...request.tokenIds, ...generated];
    options.onStage?.("route");
    const decision = await withSpan(
      "route",
      { request_id: request.requestId, model: request.model, candidates: workers.length },
      async (span) => {
        const chosen = await deps.router.route({ ...request, tokenIds }, workers);
        span.setAttributes({ worker_id: formatInstanceId(chosen.instanceId), dp_rank: chosen.dpRank });
        return chosen;
      },
      { parent },
    );
    const worker = workers.find((w) => w.instanceId === decision.instanceId);
    if (!worker) throw new HttpError(500, "The router chose a worker that is not serving this model.");
    options.onStage?.("dispatch");
    const span = tracer.startSpan(
      "generate",
      {
        attributes: {
          request_id: request.requestId,
          worker_id: formatInstanceId(worker.instanceId),
          prompt_tokens: tokenIds.length,
        },
      },
      parent,
    );

    // One controller per attempt, so leaving early (a stop string, a client gone) cancels the worker's stream.
    const attempt = new AbortController();
    const onAbort = () => attempt.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    deps.load.started(worker.instanceId, decision.dpRank);
    let first = true;
    let final: EngineOutput | undefined;
    let completed = false;
    try {
      const client = deps.clientFor(worker.address);
      // The client interceptor reads the active context when the call starts: make it the generate span's.
      const stream = context.with(trace.setSpan(parent, span), () =>
        client.generate(
          {
            requestId: request.requestId,
            model: request.model,
            tokenIds,
            sampling: {
              temperature: request.params.temperature,
              topP: request.params.topP,
              topK: request.params.topK,
              seed: request.params.seed,
            },
            stop: {
              maxTokens: request.params.maxTokens - generated.length,
              stopTokenIds: request.params.stopTokenIds,
              ignoreEos: request.params.ignoreEos,
              minTokens: Math.max(0, request.params.minTokens - generated.length),
            },
            priority: request.priority,
            loraName: request.loraName ?? "",
            cacheSalt: request.cacheSalt ?? "",
            dpRank: decision.dpRank,
          },
          { signal: attempt.signal, headers: request.headers, timeoutMs: 0 },
        ),
      );
      for await (const response of stream) {
        if (first) {
          first = false;
          if (generated.length === 0) cachedTokens = response.usage?.cachedTokens ?? 0;
          deps.router.prefillComplete?.(request.requestId);
        }
        const output = toOutput(response, decision, generated, promptTokens, cachedTokens);
        // The stream ends right after its finish: read that end (trailers, status, the client span's end) first.
        if (output.finishReason) final = output;
        else yield output;
      }
      if (final) {
        completed = true;
        yield final;
        return;
      }
      // A stream that ends without a finish reason was cut off (the worker is draining or died).
      throw new ConnectError("worker stream ended without a finish reason", Code.Unavailable);
    } catch (error) {
      recordSpanError(span, error);
      if (signal.aborted) throw error;
      if (error instanceof HttpError || isRequestError(error)) throw error;
      const canRetry = generated.length === 0 ? retries < deps.retryLimit : migrations < deps.migrationLimit;
      if (!canRetry) throw error;
      if (generated.length === 0) retries++;
      else migrations++;
      failed.add(worker.instanceId);
      deps.onRetry?.({
        requestId: request.requestId,
        model: request.model,
        instanceId: worker.instanceId,
        generated: generated.length,
        error,
      });
    } finally {
      span.end();
      signal.removeEventListener("abort", onAbort);
      if (!completed) attempt.abort(LEFT_EARLY);
      deps.load.ended(worker.instanceId, decision.dpRank);
      deps.router.free?.(request.requestId);
    }
  }
}

function toOutput(
  response: GenerateResponse,
  worker: RouteDecision,
  generated: number[],
  promptTokens: number,
  cachedTokens: number,
): EngineOutput {
  for (const id of response.tokenIds) generated.push(id);
  const output: EngineOutput = {
    tokenIds: response.tokenIds,
    usage: { promptTokens, completionTokens: generated.length, cachedTokens },
    worker,
  };
  const finish = finishOf[response.finishReason];
  if (finish) output.finishReason = finish;
  return output;
}
