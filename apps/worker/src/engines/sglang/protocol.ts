// The worker's requests as SGLang's native HTTP API takes them: `/generate` with `input_ids`, streamed, and
// `/abort_request` (shapes in @kvasir/engine-wire's http/sglang.ts, from SGLang's io_struct and http_server).
import {
  isSglangError,
  parseEngineMetrics,
  readSglangLogprobs,
  SGLANG_PATHS,
  type SglangFinishReason,
  type SglangGenerateRequest,
  type SglangMetaInfo,
  type SglangModelInfo,
  type SglangSamplingParams,
  type SglangServerInfo,
  SSE_DONE,
  sglangBootstrapRoom,
} from "@kvasir/engine-wire";
import type { EngineFinishReason, EngineOutput, EngineParams, EngineRequest } from "../../engine.js";
import { EngineHttpError } from "../http-engine/http-client.js";
import {
  capacityOf,
  type EngineDescription,
  type EngineSettings,
  type GenerateContext,
  type HttpProtocol,
  numberOr,
  outputLogprobs,
} from "../http-engine/protocol.js";
import { engineRequestError } from "../http-engine/request-errors.js";

/** SGLang's defaults for what an engine does not report (server_args.py: page_size 1, chunked prefill 8192). */
const SGLANG_DEFAULTS = {
  blockSize: 1,
  totalKvBlocks: 0,
  maxNumSeqs: 256,
  maxNumBatchedTokens: 8192,
  dataParallelSize: 1,
  contextLength: 32768,
};

function seedOf(seed: bigint): number {
  return Number(BigInt.asUintN(64, seed) % BigInt(Number.MAX_SAFE_INTEGER));
}

/** EngineParams as SGLang's sampling_params (note max_new_tokens / min_new_tokens). */
export function sglangSampling(params: EngineParams): SglangSamplingParams {
  return {
    max_new_tokens: params.maxTokens,
    ...(params.minTokens > 0 ? { min_new_tokens: params.minTokens } : {}),
    ...(params.stopTokenIds.length > 0 ? { stop_token_ids: [...params.stopTokenIds] } : {}),
    ...(params.ignoreEos ? { ignore_eos: true } : {}),
    ...(params.temperature === undefined ? {} : { temperature: params.temperature }),
    ...(params.topP === undefined ? {} : { top_p: params.topP }),
    ...(params.topK === undefined ? {} : { top_k: params.topK }),
    ...(params.seed === undefined ? {} : { sampling_seed: seedOf(params.seed) }),
    // SGLang's constrained decoding takes the schema as a JSON string (sampling_params.py json_schema).
    ...(params.structuredOutputs
      ? {
          json_schema: JSON.stringify(
            "json" in params.structuredOutputs ? params.structuredOutputs.json : { type: "object" },
          ),
        }
      : {}),
  };
}

/** The bootstrap fields SGLang's PD disaggregation reads off a request (FORMATS.md §2.4), when it has them. */
function bootstrapOf(params: Record<string, unknown> | undefined) {
  if (!params || typeof params.bootstrap_host !== "string") return undefined;
  const port = numberOr(params.bootstrap_port);
  const room = numberOr(params.bootstrap_room);
  return {
    bootstrap_host: params.bootstrap_host,
    ...(port === undefined ? {} : { bootstrap_port: port }),
    ...(room === undefined ? {} : { bootstrap_room: room }),
  };
}

export function sglangGenerateBody(
  request: EngineRequest,
  settings: EngineSettings,
  stream: boolean,
  bootstrap?: Record<string, unknown>,
): SglangGenerateRequest {
  return {
    rid: request.requestId,
    input_ids: [...request.tokenIds],
    sampling_params: sglangSampling(request.params),
    stream,
    // Output logprobs come back in meta_info (engine-wire's logprobs.ts); the prompt's are not asked for.
    ...(request.params.logprobs === undefined
      ? {}
      : {
          return_logprob: true,
          ...(request.params.logprobs > 0 ? { top_logprobs_num: request.params.logprobs } : {}),
        }),
    ...(request.loraName ? { lora_path: request.loraName } : {}),
    // SGLang orders higher first, as Kvasir does; it refuses priorities without priority scheduling.
    ...(settings.priorityScheduling && request.priority !== 0 ? { priority: request.priority } : {}),
    ...(request.dpRank === undefined ? {} : { routed_dp_rank: request.dpRank }),
    // SGLang isolates cache entries by extra_key, its cache salt.
    ...(request.cacheSalt ? { extra_key: request.cacheSalt } : {}),
    ...(bootstrap ?? bootstrapOf(request.disaggParams) ?? {}),
  };
}

export function finishReasonOf(
  reason: SglangFinishReason | null | undefined,
): EngineFinishReason | undefined {
  if (!reason) return undefined;
  if (reason.type === "length" || reason.type === "stop") return reason.type;
  return "cancelled";
}

/**
 * Reads one streamed /generate answer. SGLang sends the output so far in every chunk unless it runs with
 * --incremental-streaming-output; meta_info.completion_tokens tells which: a delta adds to what came before.
 */
export class SglangStreamReader {
  private seen = 0;
  private finish: EngineFinishReason | undefined;
  private meta: SglangMetaInfo | undefined;

  /** `logprobs`: whether the request asked for them (read off meta_info then). */
  constructor(
    private readonly promptTokens: number,
    private readonly logprobs = false,
  ) {}

  read(payloads: readonly string[]): EngineOutput | undefined {
    const tokenIds: number[] = [];
    const logprobs: NonNullable<EngineOutput["logprobs"]> = [];
    for (const payload of payloads) {
      if (payload === SSE_DONE) continue;
      const chunk: unknown = JSON.parse(payload);
      if (isSglangError(chunk)) throw engineRequestError(400, chunk.error.message);
      if (typeof chunk !== "object" || chunk === null || !("output_ids" in chunk)) continue;
      const { output_ids: ids, meta_info: meta } = chunk as {
        output_ids: number[];
        meta_info: SglangMetaInfo;
      };
      const total = meta?.completion_tokens ?? this.seen + ids.length;
      const delta = total === this.seen + ids.length ? ids : ids.slice(this.seen);
      for (const id of delta) tokenIds.push(id);
      this.seen += delta.length;
      const read = this.logprobs && meta ? outputLogprobs(readSglangLogprobs(meta, delta)) : undefined;
      if (read) for (const entry of read) logprobs.push(entry);
      this.meta = meta;
      if (
        meta?.finish_reason?.type === "abort" &&
        meta.finish_reason.status_code &&
        meta.finish_reason.status_code < 500
      )
        throw engineRequestError(meta.finish_reason.status_code, meta.finish_reason.message);
      this.finish ??= finishReasonOf(meta?.finish_reason);
    }
    if (tokenIds.length === 0 && this.finish === undefined) return undefined;
    const finishing = this.finish !== undefined;
    return {
      tokenIds,
      // Only a full set: a worker output's logprobs are one per token id.
      ...(logprobs.length > 0 && logprobs.length === tokenIds.length ? { logprobs } : {}),
      ...(finishing ? { finishReason: this.finish } : {}),
      usage: {
        promptTokens: this.meta?.prompt_tokens ?? this.promptTokens,
        completionTokens: this.seen,
        cachedTokens: this.meta?.cached_tokens ?? 0,
      },
    };
  }
}

export class SglangProtocol implements HttpProtocol {
  readonly name = "sglang" as const;
  readonly healthPath = SGLANG_PATHS.health;
  readonly metricsPath = SGLANG_PATHS.metrics;
  readonly resetPrefixCachePath = "/flush_cache";

  async describe(client: GenerateContext["client"], settings: EngineSettings): Promise<EngineDescription> {
    const model = (await client.json(SGLANG_PATHS.modelInfo)) as SglangModelInfo;
    let info: Partial<SglangServerInfo> = {};
    try {
      info = (await client.json(SGLANG_PATHS.serverInfo)) as SglangServerInfo;
    } catch {
      // Older servers only have the legacy name.
      info = (await client.json(SGLANG_PATHS.serverInfoLegacy)) as SglangServerInfo;
    }
    const reading = parseEngineMetrics("sglang", await client.text(SGLANG_PATHS.metrics));
    const pageSize = numberOr(info.page_size) ?? reading.blockSize;
    const maxTokens = numberOr(info.internal_states?.[0]?.max_total_num_tokens);
    const totalKvBlocks =
      reading.totalBlocks ??
      (maxTokens !== undefined && pageSize ? Math.floor(maxTokens / pageSize) : undefined);
    const maxNumSeqs = numberOr(info.max_running_requests);
    const chunked = numberOr(info.chunked_prefill_size);
    const contextLength = numberOr(info.context_length);
    return {
      servedModel: (typeof info.served_model_name === "string" && info.served_model_name) || model.model_path,
      capacity: capacityOf(
        settings,
        {
          ...(pageSize === undefined ? {} : { blockSize: pageSize }),
          ...(totalKvBlocks === undefined ? {} : { totalKvBlocks }),
          ...(maxNumSeqs === undefined ? {} : { maxNumSeqs }),
          ...(chunked === undefined || chunked <= 0 ? {} : { maxNumBatchedTokens: chunked }),
          ...(contextLength === undefined ? {} : { contextLength }),
        },
        SGLANG_DEFAULTS,
      ),
    };
  }

  async *generate(
    request: EngineRequest,
    signal: AbortSignal,
    context: GenerateContext,
  ): AsyncIterable<EngineOutput> {
    const { client, settings } = context;
    if (request.disaggParams?.do_remote_decode === true) {
      yield this.prefill(request, context);
      return;
    }
    const body = sglangGenerateBody(request, settings, true);
    const reader = new SglangStreamReader(request.tokenIds.length, request.params.logprobs !== undefined);
    try {
      for await (const payloads of client.events(SGLANG_PATHS.generate, {
        body,
        signal,
        headers: context.headers,
      })) {
        const output = reader.read(payloads);
        if (!output) continue;
        yield output;
        if (output.finishReason) return;
      }
    } catch (error) {
      throw error instanceof EngineHttpError ? engineRequestError(error.status, error.message) : error;
    }
    if (!signal.aborted) throw new Error("the engine closed the stream before the request finished");
  }

  /**
   * A prefill leg: SGLang's prefill server holds the prompt's KV until the decode server pulls it through the
   * bootstrap room, and answers only then, so the request runs on in the background while its bootstrap fields
   * go back at once for the decode leg (as Dynamo's SGLang prefill handler does).
   */
  private prefill(request: EngineRequest, context: GenerateContext): EngineOutput {
    const { client, settings, advertiseHost } = context;
    const bootstrap = {
      bootstrap_host: advertiseHost,
      ...(settings.bootstrapPort === undefined ? {} : { bootstrap_port: settings.bootstrapPort }),
      bootstrap_room: sglangBootstrapRoom(),
    };
    const body = sglangGenerateBody(request, settings, false, bootstrap);
    // Its outcome reaches the client through the decode leg, which fails when the transfer does.
    client.json(SGLANG_PATHS.generate, { body, headers: context.headers }).catch(() => {});
    return {
      tokenIds: [],
      finishReason: "length",
      usage: { promptTokens: request.tokenIds.length, completionTokens: 0, cachedTokens: 0 },
      disaggParams: bootstrap,
    };
  }

  async abort(client: GenerateContext["client"], requestId: string): Promise<void> {
    await client.text(SGLANG_PATHS.abort, { body: { rid: requestId }, timeoutMs: 5000 }).catch(() => {});
  }
}
