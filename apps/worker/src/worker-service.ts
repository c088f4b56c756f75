import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  create,
  FinishReason,
  type GenerateRequest,
  type GenerateResponse,
  GenerateResponseSchema,
  type WorkerService,
} from "@kvasir/protocol";
import { traceContextOf } from "@kvasir/telemetry";
import { disaggRoleOf } from "./disagg/transfer-params.js";
import {
  type Engine,
  type EngineFinishReason,
  type EngineOutput,
  EngineOverloaded,
  type EngineRequest,
  InvalidEngineRequest,
} from "./engine.js";

const finishReasons: Record<EngineFinishReason, FinishReason> = {
  stop: FinishReason.STOP,
  length: FinishReason.LENGTH,
  cancelled: FinishReason.CANCELLED,
  error: FinishReason.ERROR,
};

/** Parses `disagg_params_json`: empty means none; anything but a JSON object is refused. */
function parseDisaggParams(json: string): Record<string, unknown> | undefined {
  if (json === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new InvalidEngineRequest(`disagg_params_json is not valid JSON: ${String(error)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidEngineRequest("disagg_params_json must be a JSON object");
  }
  return Object.fromEntries(Object.entries(value));
}

/**
 * Sampling and stop values every engine must refuse: the wire types hold them (a float may be NaN or infinite,
 * an int32 negative) but no engine can honour them. Refused as InvalidArgument, which callers do not retry.
 */
function checkParams({ stop, sampling }: GenerateRequest): void {
  const { temperature, topP, topK } = sampling ?? {};
  if (temperature !== undefined && !(Number.isFinite(temperature) && temperature >= 0))
    throw new InvalidEngineRequest(`temperature must be a finite number >= 0, got ${temperature}`);
  if (topP !== undefined && !(topP > 0 && topP <= 1))
    throw new InvalidEngineRequest(`top_p must be in (0, 1], got ${topP}`);
  if (topK !== undefined && topK < -1)
    throw new InvalidEngineRequest(`top_k must be -1 (off) or positive, got ${topK}`);
  if (stop && stop.maxTokens > 0 && stop.minTokens > stop.maxTokens)
    throw new InvalidEngineRequest(`min_tokens (${stop.minTokens}) exceeds max_tokens (${stop.maxTokens})`);
}

/** The guided-decoding constraint of a request; a schema that is not a JSON object is refused. */
function structuredOf(sampling: GenerateRequest["sampling"]): EngineRequest["params"]["structuredOutputs"] {
  const constraint = sampling?.structuredOutputs?.constraint;
  if (constraint?.case === "jsonObject") return constraint.value ? { jsonObject: true } : undefined;
  if (constraint?.case !== "json") return undefined;
  let schema: unknown;
  try {
    schema = JSON.parse(constraint.value);
  } catch (error) {
    throw new InvalidEngineRequest(`structured_outputs.json is not valid JSON: ${String(error)}`);
  }
  if (typeof schema !== "object" || schema === null || Array.isArray(schema))
    throw new InvalidEngineRequest("structured_outputs.json must be a JSON schema object");
  return { json: Object.fromEntries(Object.entries(schema)) };
}

/** The engine's view of a kvasir.worker.v1.GenerateRequest; throws InvalidEngineRequest on bad fields. */
export function toEngineRequest(request: GenerateRequest): EngineRequest {
  const { stop, sampling } = request;
  const disaggParams = parseDisaggParams(request.disaggParamsJson);
  // Keys of the wrong type are refused here for every engine; what the params ask is each engine's business.
  disaggRoleOf(disaggParams);
  checkParams(request);
  const structuredOutputs = structuredOf(sampling);
  return {
    // Callers that send none still get a stream the engine can tell apart from the others.
    requestId: request.requestId || crypto.randomUUID(),
    tokenIds: request.tokenIds,
    params: {
      maxTokens: stop?.maxTokens ?? 0,
      minTokens: stop?.minTokens ?? 0,
      stopTokenIds: stop?.stopTokenIds ?? [],
      ignoreEos: stop?.ignoreEos ?? false,
      ...(sampling?.temperature === undefined ? {} : { temperature: sampling.temperature }),
      ...(sampling?.topP === undefined ? {} : { topP: sampling.topP }),
      ...(sampling?.topK === undefined ? {} : { topK: sampling.topK }),
      ...(sampling?.seed === undefined ? {} : { seed: sampling.seed }),
      ...(sampling?.logprobs === undefined ? {} : { logprobs: sampling.logprobs }),
      ...(structuredOutputs ? { structuredOutputs } : {}),
      ...(request.embedding ? { embedding: { dimensions: request.embedding.dimensions } } : {}),
    },
    priority: request.priority,
    ...(request.dpRank === undefined ? {} : { dpRank: request.dpRank }),
    ...(request.loraName ? { loraName: request.loraName } : {}),
    ...(request.cacheSalt ? { cacheSalt: request.cacheSalt } : {}),
    ...(disaggParams ? { disaggParams } : {}),
  };
}

export function toResponse(output: EngineOutput): GenerateResponse {
  return create(GenerateResponseSchema, {
    tokenIds: output.tokenIds,
    finishReason: output.finishReason ? finishReasons[output.finishReason] : FinishReason.UNSPECIFIED,
    ...(output.usage ? { usage: output.usage } : {}),
    ...(output.disaggParams ? { disaggParamsJson: JSON.stringify(output.disaggParams) } : {}),
    ...(output.logprobs
      ? {
          logprobs: output.logprobs.map((entry) => ({
            logprob: entry.logprob,
            topTokenIds: entry.top.map((t) => t.tokenId),
            topLogprobs: entry.top.map((t) => t.logprob),
          })),
        }
      : {}),
    ...(output.embedding ? { embedding: output.embedding } : {}),
  });
}

export type GenerateOutcome = "ok" | "cancelled" | "invalid" | "error";

export interface WorkerServiceHooks {
  started(request: GenerateRequest): void;
  /** Called once per stream with its outcome, for metrics and logs. */
  finished(request: GenerateRequest, outcome: GenerateOutcome, seconds: number): void;
  /** Frees the KV blocks a prefill worker holds for the request; the number freed (0 when none are held). */
  releaseKvBlocks?(requestId: string): number;
}

/** The Connect implementation of kvasir.worker.v1.WorkerService over any engine. */
export function workerServiceImpl(
  engine: Engine,
  hooks: WorkerServiceHooks,
): ServiceImpl<typeof WorkerService> {
  return {
    releaseKvBlocks(request) {
      if (request.requestId === "")
        throw new ConnectError("request_id must not be empty", Code.InvalidArgument);
      // Workers that hold nothing (aggregated, decode) answer like a prefill worker whose hold already ended.
      const numBlocks = hooks.releaseKvBlocks?.(request.requestId) ?? 0;
      return { released: numBlocks > 0, numBlocks };
    },
    async *generate(request: GenerateRequest, context: HandlerContext) {
      const started = performance.now();
      hooks.started(request);
      // A client that goes away ends the generator at its `yield`, so the outcome is settled in `finally`.
      let outcome: GenerateOutcome = "cancelled";
      try {
        const engineRequest = { ...toEngineRequest(request), trace: traceContextOf(context.values) };
        for await (const output of engine.generate(engineRequest, context.signal)) {
          if (output.finishReason) outcome = output.finishReason === "error" ? "error" : "ok";
          yield toResponse(output);
        }
      } catch (error) {
        if (error instanceof InvalidEngineRequest) {
          outcome = "invalid";
          throw new ConnectError(error.message, Code.InvalidArgument);
        }
        if (error instanceof EngineOverloaded) {
          outcome = "error";
          throw new ConnectError(error.message, Code.ResourceExhausted);
        }
        outcome = "error";
        throw ConnectError.from(error, Code.Internal);
      } finally {
        hooks.finished(request, outcome, (performance.now() - started) / 1000);
      }
    },
  };
}
