import { Code, ConnectError } from "@connectrpc/connect";
import { Detokenizer } from "@kvasir/llm";
import { type EngineUsage, type Handler, type MoveInfo, ServingError, servingContext } from "@kvasir/serving";
import { CLIENT_CLOSED, clientClosed, HttpError, timedOut, toHttpError } from "../errors.js";
import type { Preprocessor } from "../preprocessor.js";
import { errorTypeOf, type RequestMetrics, type RequestOutcome } from "../request-metrics.js";
import type { RequestScope } from "../request-scope.js";
import { DONE, sseResponse } from "../sse.js";
import { StepBatcher, TextReader, type TextStep } from "../text-generation.js";
import type { PreparedRequest } from "./prepare.js";

/** How one endpoint renders generated text, streamed and not. */
export interface OutputFormat {
  /** Chunks sent before the first text (chat's role chunk). */
  start(): unknown[];
  /** Chunks for one step; the last step has its finish reason. */
  step(step: TextStep): unknown[];
  /** The `include_usage` chunk (OpenAI only). */
  usage?(usage: EngineUsage): unknown;
  /** Sees every step of a non-streamed answer before complete() (logprobs gathered over the answer). */
  collect?(step: TextStep): void;
  /** The whole non-streamed answer: all the text, and the last step (finish reason, usage). */
  complete(text: string, last: TextStep): unknown;
  /** The event that tells a streaming client the request failed. */
  error(failure: HttpError): unknown;
  /** The stream ends with `data: [DONE]` (OpenAI) or just stops (Anthropic). */
  readonly doneMarker: boolean;
}

export interface GenerationDeps {
  generate: Handler;
  onMove?(info: MoveInfo): void;
  requestTimeoutSeconds: number;
}

export const emptyUsage = (prompt: number): EngineUsage => ({
  promptTokens: prompt,
  completionTokens: 0,
  cachedTokens: 0,
});

/** Aborts when the client leaves or the request runs out of time (one controller, one timer per request). */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onClientGone: () => void;
  expired = false;

  constructor(
    private readonly client: AbortSignal,
    ms: number,
  ) {
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort(timedOut(ms / 1000));
    }, ms);
    this.onClientGone = () => this.controller.abort(client.reason);
    if (client.aborted) this.onClientGone();
    else client.addEventListener("abort", this.onClientGone, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  clear(): void {
    clearTimeout(this.timer);
    this.client.removeEventListener("abort", this.onClientGone);
  }
}

/** Maps whatever ended a request to what the client is told. */
export function clientError(
  error: unknown,
  deadline: Deadline,
  scope: RequestScope,
  seconds: number,
): HttpError {
  if (deadline.expired) return timedOut(seconds);
  if (scope.signal.aborted) return clientClosed();
  if (error instanceof ServingError) return toHttpError(error);
  if (error instanceof ConnectError) {
    if (error.code === Code.InvalidArgument || error.code === Code.OutOfRange) {
      return new HttpError(400, error.rawMessage, "invalid_request");
    }
    return new HttpError(503, `The worker failed: ${error.rawMessage}`, "worker_failed");
  }
  return toHttpError(error);
}

/** The serving request of a prepared one (one choice of it). */
export function servingRequestOf(
  req: PreparedRequest,
  requestId: string,
): Parameters<GenerationDeps["generate"]>[0] {
  return {
    requestId,
    model: req.model.name,
    tokenIds: req.tokenIds,
    priority: req.priority,
    ...(req.backendInstanceId !== undefined ? { backendInstanceId: req.backendInstanceId } : {}),
    params: req.params,
    headers: { "x-request-id": requestId },
  };
}

/**
 * Runs a prepared request on the workers and answers it: a JSON body, or an SSE stream once the first text is
 * ready (so failures before it still get a proper HTTP status).
 */
export async function respond(
  deps: GenerationDeps,
  pre: Preprocessor,
  req: PreparedRequest,
  format: OutputFormat,
  scope: RequestScope,
  metrics: RequestMetrics,
  headers: Record<string, string>,
): Promise<Response> {
  const deadline = new Deadline(scope.signal, deps.requestTimeoutSeconds * 1000);
  const signal = deadline.signal;
  const outputs = deps.generate(
    {
      requestId: scope.requestId,
      model: req.model.name,
      tokenIds: req.tokenIds,
      priority: req.priority,
      ...(req.backendInstanceId !== undefined ? { backendInstanceId: req.backendInstanceId } : {}),
      params: req.params,
      headers: { "x-request-id": scope.requestId },
    },
    servingContext(signal, {
      trace: scope.trace,
      onStage: (stage, phase) => metrics.stage(stage, phase),
      onDisaggregation: (outcome, error) => {
        metrics.disaggregation(outcome);
        if (error)
          scope.log.warn("prefill failed; prefilling on the decode worker", { error: String(error) });
      },
      ...(deps.onMove ? { onMove: deps.onMove } : {}),
    }),
  );
  const detokenizer = new Detokenizer(pre.tokenizer, req.detokenizer);
  const steps = new TextReader(outputs, detokenizer, (count) => metrics.tokens(count));
  const fail = (error: unknown): HttpError => {
    const failure = clientError(error, deadline, scope, deps.requestTimeoutSeconds);
    metrics.finish({ status: "error", errorType: errorTypeOf(failure) });
    return failure;
  };

  if (!req.stream) {
    let text = "";
    let last: TextStep | undefined;
    try {
      for (let step = await steps.next(); step; step = await steps.next()) {
        text += step.text;
        format.collect?.(step);
        last = step;
      }
    } catch (error) {
      throw fail(error);
    } finally {
      deadline.clear();
      await steps.close();
    }
    const final: TextStep = last ?? {
      text: "",
      tokenCount: 0,
      tokenIds: [],
      usage: emptyUsage(req.tokenIds.length),
    };
    metrics.finish({ status: "success" }, final.usage);
    return Response.json(format.complete(text, final), { headers });
  }

  let first: TextStep | undefined;
  try {
    first = await steps.next();
  } catch (error) {
    deadline.clear();
    await steps.close();
    throw fail(error);
  }
  const stream = streamSteps({
    deps,
    format,
    steps,
    first,
    promptTokens: req.tokenIds.length,
    includeUsage: req.includeUsage,
    deadline,
    scope,
    metrics,
    release: scope.keepOpen(),
  });
  return sseResponse(stream, headers, scope.outgoing);
}

/** What a streamed answer needs once its first step is in. */
interface StreamState {
  deps: GenerationDeps;
  format: OutputFormat;
  steps: TextReader;
  first: TextStep | undefined;
  promptTokens: number;
  includeUsage: boolean;
  deadline: Deadline;
  scope: RequestScope;
  metrics: RequestMetrics;
  release: () => void;
}

/**
 * The batches of a streamed answer. A module-level generator on purpose: a generator function created per request
 * gets a map of its own in the old generation pointing back at it, which kept each request's closure (prompt
 * included) alive until a full GC.
 */
async function* streamSteps(s: StreamState): AsyncGenerator<unknown[]> {
  const { format, steps, metrics } = s;
  let usage = emptyUsage(s.promptTokens);
  let outcome: RequestOutcome = { status: "error", errorType: "cancelled" };
  const end = format.doneMarker ? [DONE] : [];
  try {
    // The opening events and the first text leave together, so the client's first read has the first token.
    let batch: unknown[] = format.start();
    const batcher = new StepBatcher(steps);
    let ready = s.first ? [s.first] : [];
    let finished = false;
    while (ready.length > 0) {
      for (const step of ready) {
        usage = step.usage;
        batch.push(...format.step(step));
        finished ||= step.finishReason !== undefined;
      }
      if (finished) break;
      yield batch;
      batch = [];
      ready = await batcher.next();
    }
    if (s.includeUsage && format.usage) batch.push(format.usage(usage));
    outcome = { status: "success" };
    yield [...batch, ...end];
  } catch (error) {
    const failure = clientError(error, s.deadline, s.scope, s.deps.requestTimeoutSeconds);
    outcome = { status: "error", errorType: errorTypeOf(failure) };
    // A client that left is the access log's to record (at info): it is not a failure of ours.
    if (failure.status !== CLIENT_CLOSED)
      s.scope.log.warn("stream failed", { status: failure.status, error: String(error) });
    yield [format.error(failure), ...end];
  } finally {
    await steps.close();
    metrics.finish(outcome, usage);
    s.deadline.clear();
    s.release();
  }
}
