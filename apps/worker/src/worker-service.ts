import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { EngineRequest } from "@kvasir/mocker";
import {
  create,
  FinishReason,
  type GenerateRequest,
  type GenerateResponse,
  GenerateResponseSchema,
  type WorkerService,
} from "@kvasir/protocol";
import type { EngineDriver, RequestOutput } from "./engine-driver.js";

const finishReasons = {
  stop: FinishReason.STOP,
  length: FinishReason.LENGTH,
  cancelled: FinishReason.CANCELLED,
} as const;

export function toEngineRequest(request: GenerateRequest): EngineRequest {
  return {
    requestId: request.requestId,
    tokenIds: request.tokenIds,
    maxTokens: request.stop?.maxTokens ?? 0,
    ignoreEos: request.stop?.ignoreEos ?? false,
    stopTokenIds: request.stop?.stopTokenIds ?? [],
    minTokens: request.stop?.minTokens ?? 0,
    seed: request.sampling?.seed === undefined ? undefined : Number(request.sampling.seed),
    priority: request.priority,
    dpRank: request.dpRank,
    loraName: request.loraName || undefined,
    cacheSalt: request.cacheSalt || undefined,
  };
}

function toResponse(output: RequestOutput): GenerateResponse {
  return create(GenerateResponseSchema, {
    tokenIds: output.tokenIds,
    finishReason: output.finishReason ? finishReasons[output.finishReason] : FinishReason.UNSPECIFIED,
    usage: {
      promptTokens: output.promptTokens,
      completionTokens: output.completionTokens,
      cachedTokens: output.cachedTokens,
    },
  });
}

export interface WorkerServiceHooks {
  started(request: GenerateRequest): void;
  /** Called once per stream with its outcome, for metrics and logs. */
  finished(
    request: GenerateRequest,
    outcome: "ok" | "cancelled" | "invalid" | "error",
    seconds: number,
  ): void;
}

/** The Connect implementation of kvasir.worker.v1.WorkerService over an engine driver. */
export function workerServiceImpl(
  driver: EngineDriver,
  hooks: WorkerServiceHooks,
): ServiceImpl<typeof WorkerService> {
  return {
    async *generate(request: GenerateRequest, context: HandlerContext) {
      const started = performance.now();
      hooks.started(request);
      // A client that goes away ends the generator at its `yield`, so the outcome is settled in `finally`.
      let outcome: Parameters<WorkerServiceHooks["finished"]>[1] = "cancelled";
      try {
        const engineRequest = toEngineRequest(request);
        if (!engineRequest.requestId) engineRequest.requestId = crypto.randomUUID();
        const invalid = driver.validate(engineRequest);
        if (invalid) {
          outcome = "invalid";
          throw new ConnectError(invalid, Code.InvalidArgument);
        }
        try {
          for await (const output of driver.generate(engineRequest, context.signal)) {
            if (output.finishReason) outcome = "ok";
            yield toResponse(output);
          }
        } catch (error) {
          outcome = "error";
          throw ConnectError.from(error, Code.Internal);
        }
      } finally {
        hooks.finished(request, outcome, (performance.now() - started) / 1000);
      }
    },
  };
}
