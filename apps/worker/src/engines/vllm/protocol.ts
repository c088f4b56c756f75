// The worker's requests as vLLM's HTTP API takes them: the tokens-in/tokens-out `/inference/v1/generate` where
// the engine has it, else `/v1/completions` with a token-id prompt and `return_token_ids` (shapes in
// @kvasir/engine-wire's http/vllm.ts, from vLLM's entrypoints protocol modules).
import {
  isVllmError,
  parseEngineMetrics,
  readVllmCompletionLogprobs,
  readVllmTokenLogprobs,
  SSE_DONE,
  VLLM_PATHS,
  type VllmCompletionRequest,
  type VllmCompletionResponse,
  type VllmFinishReason,
  type VllmGenerateRequest,
  type VllmGenerateResponse,
  type VllmKvTransferParams,
  type VllmModelList,
  type VllmSamplingFields,
  type VllmUsage,
} from "@kvasir/engine-wire";
import type {
  EngineFinishReason,
  EngineOutput,
  EngineParams,
  EngineRequest,
  EngineUsage,
} from "../../engine.js";
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

/** Which of vLLM's two token-level endpoints a request goes to. */
export type VllmEndpoint = "generate" | "completions";

/** vLLM's defaults for what an engine does not report (vllm/config: block_size 16, max_num_seqs, batched tokens). */
const VLLM_DEFAULTS = {
  blockSize: 16,
  totalKvBlocks: 0,
  maxNumSeqs: 256,
  maxNumBatchedTokens: 8192,
  dataParallelSize: 1,
  contextLength: 32768,
};

/** JSON has no 64-bit integers: seeds beyond 2^53 are folded into range, deterministically. */
function seedOf(seed: bigint): number {
  return Number(BigInt.asUintN(64, seed) % BigInt(Number.MAX_SAFE_INTEGER));
}

/** EngineParams as vLLM's SamplingParams fields (flat in /v1/completions, nested in /inference/v1/generate). */
export function vllmSampling(
  params: EngineParams,
): VllmSamplingFields & { max_tokens: number; structured_outputs?: Record<string, unknown> } {
  return {
    max_tokens: params.maxTokens,
    ...(params.minTokens > 0 ? { min_tokens: params.minTokens } : {}),
    ...(params.stopTokenIds.length > 0 ? { stop_token_ids: [...params.stopTokenIds] } : {}),
    ...(params.ignoreEos ? { ignore_eos: true } : {}),
    ...(params.temperature === undefined ? {} : { temperature: params.temperature }),
    ...(params.topP === undefined ? {} : { top_p: params.topP }),
    ...(params.topK === undefined ? {} : { top_k: params.topK }),
    ...(params.seed === undefined ? {} : { seed: seedOf(params.seed) }),
    ...(params.structuredOutputs
      ? { structured_outputs: structuredOutputsOf(params.structuredOutputs) }
      : {}),
  };
}

/** Guided decoding as vLLM's StructuredOutputsParams (vllm/sampling_params.py: `json`, `json_object`). */
function structuredOutputsOf(so: NonNullable<EngineParams["structuredOutputs"]>): Record<string, unknown> {
  return "json" in so ? { json: so.json } : { json_object: true };
}

/** Fields both endpoints carry the same way. */
function common(request: EngineRequest, settings: EngineSettings, servedModel: string) {
  return {
    request_id: request.requestId,
    // vLLM selects a LoRA adapter by its name in `model`.
    model: request.loraName ?? servedModel,
    // Kvasir's higher-first priority as vLLM's lower-first; vLLM refuses any but 0 without priority scheduling.
    ...(settings.priorityScheduling && request.priority !== 0 ? { priority: -request.priority } : {}),
    ...(request.cacheSalt ? { cache_salt: request.cacheSalt } : {}),
    ...(request.disaggParams ? { kv_transfer_params: request.disaggParams as VllmKvTransferParams } : {}),
  };
}

/** vLLM's default `--max-logprobs`: a request asking for more is refused. */
const VLLM_MAX_LOGPROBS = 20;

/**
 * `logprobs` for /inference/v1/generate: one more than the alternatives wanted, because that endpoint cuts each
 * position's list to `logprobs` entries with the sampled token first (serve/disagg/serving.py), which would leave
 * out the n-th most likely whenever the sampled token is not among them. At vLLM's cap, n as asked.
 */
function generateLogprobs(n: number): number {
  return n === 0 || n >= VLLM_MAX_LOGPROBS ? n : n + 1;
}

export function vllmGenerateBody(
  request: EngineRequest,
  settings: EngineSettings,
  servedModel: string,
  stream: boolean,
): VllmGenerateRequest {
  const { logprobs } = request.params;
  return {
    ...common(request, settings, servedModel),
    token_ids: [...request.tokenIds],
    // The worker relays ids; detokenizing here would be the engine's CPU spent for nothing.
    sampling_params: {
      ...vllmSampling(request.params),
      detokenize: false,
      ...(logprobs === undefined ? {} : { logprobs: generateLogprobs(logprobs) }),
    },
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
  };
}

export function vllmCompletionBody(
  request: EngineRequest,
  settings: EngineSettings,
  servedModel: string,
  stream: boolean,
): VllmCompletionRequest {
  return {
    ...common(request, settings, servedModel),
    prompt: [...request.tokenIds],
    ...vllmSampling(request.params),
    return_token_ids: true,
    // Logprob entries named by id (`token_id:<id>`), not by decoded text, which could not be mapped back.
    ...(request.params.logprobs === undefined
      ? {}
      : { logprobs: request.params.logprobs, return_tokens_as_token_ids: true }),
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
  };
}

/** Headers of every generation request: the id vLLM logs and the dp rank the router chose. */
export function vllmHeaders(request: EngineRequest): Record<string, string> {
  return {
    "x-request-id": request.requestId,
    ...(request.dpRank === undefined ? {} : { "x-data-parallel-rank": String(request.dpRank) }),
  };
}

export function finishReasonOf(reason: VllmFinishReason | null | undefined): EngineFinishReason | undefined {
  if (reason === null || reason === undefined) return undefined;
  if (reason === "stop") return "stop";
  if (reason === "length") return "length";
  if (reason === "abort") return "cancelled";
  return "error";
}

/** A choice's logprobs in either endpoint's shape, for its token ids; undefined when it has none. */
function choiceLogprobs(
  logprobs: unknown,
  tokenIds: readonly number[],
  n: number | undefined,
): EngineOutput["logprobs"] | undefined {
  if (n === undefined || logprobs == null) return undefined;
  return outputLogprobs(
    readVllmCompletionLogprobs(logprobs, tokenIds, n) ?? readVllmTokenLogprobs(logprobs, tokenIds, n),
  );
}

/** Reads one streamed answer (either endpoint): token id deltas, their logprobs when asked, finish, usage. */
export class VllmStreamReader {
  private completionTokens = 0;
  private cachedTokens = 0;
  private finish: EngineFinishReason | undefined;
  private done = false;

  /** `logprobs`: the alternatives the request asked for (undefined: none asked, none read). */
  constructor(
    private readonly promptTokens: number,
    private readonly logprobs?: number,
  ) {}

  /** True once `[DONE]` arrived. */
  get ended(): boolean {
    return this.done;
  }

  /**
   * Folds the payloads that arrived together into one output, or undefined when they carry nothing to tell. The
   * finishing output waits for the usage chunk (sent after it) or `[DONE]`, so it carries the cached tokens.
   */
  read(payloads: readonly string[]): EngineOutput | undefined {
    const tokenIds: number[] = [];
    const logprobs: NonNullable<EngineOutput["logprobs"]> = [];
    for (const payload of payloads) {
      if (payload === SSE_DONE) {
        this.done = true;
        continue;
      }
      const chunk: unknown = JSON.parse(payload);
      if (isVllmError(chunk)) throw engineRequestError(chunk.error.code, chunk.error.message);
      if (typeof chunk !== "object" || chunk === null) continue;
      const { choices, usage } = chunk as { choices?: unknown; usage?: VllmUsage | null };
      if (Array.isArray(choices)) {
        for (const choice of choices as {
          token_ids?: number[] | null;
          finish_reason?: VllmFinishReason | null;
          logprobs?: unknown;
        }[]) {
          const ids = choice.token_ids;
          if (ids) for (const id of ids) tokenIds.push(id);
          const read = ids ? choiceLogprobs(choice.logprobs, ids, this.logprobs) : undefined;
          if (read) for (const entry of read) logprobs.push(entry);
          this.finish ??= finishReasonOf(choice.finish_reason);
        }
      }
      if (usage) this.cachedTokens = usage.prompt_tokens_details?.cached_tokens ?? 0;
    }
    this.completionTokens += tokenIds.length;
    const finishing = this.finish !== undefined && this.done;
    if (tokenIds.length === 0 && !finishing) return undefined;
    return {
      tokenIds,
      // Only a full set: a worker output's logprobs are one per token id.
      ...(logprobs.length > 0 && logprobs.length === tokenIds.length ? { logprobs } : {}),
      ...(finishing ? { finishReason: this.finish } : {}),
      usage: this.usage(),
    };
  }

  /** The output that ends a stream which closed without a finish reason. */
  unfinished(): EngineOutput | undefined {
    if (this.finish === undefined) return undefined;
    return { tokenIds: [], finishReason: this.finish, usage: this.usage() };
  }

  usage(): EngineUsage {
    return {
      promptTokens: this.promptTokens,
      completionTokens: this.completionTokens,
      cachedTokens: this.cachedTokens,
    };
  }
}

/** The output of a non-streamed answer (prefill legs), with the kv_transfer_params the decode worker needs. */
export function outputOfResponse(
  request: EngineRequest,
  response: VllmGenerateResponse | VllmCompletionResponse,
): EngineOutput {
  const choice = response.choices[0];
  const tokenIds = choice?.token_ids ?? [];
  const usage = response.usage;
  const logprobs = choiceLogprobs(choice?.logprobs, tokenIds, request.params.logprobs);
  return {
    tokenIds: [...tokenIds],
    ...(logprobs ? { logprobs } : {}),
    finishReason: finishReasonOf(choice?.finish_reason) ?? "length",
    usage: {
      promptTokens: usage?.prompt_tokens ?? request.tokenIds.length,
      completionTokens: usage?.completion_tokens ?? tokenIds.length,
      cachedTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
    },
    ...(response.kv_transfer_params ? { disaggParams: { ...response.kv_transfer_params } } : {}),
  };
}

/** Whether a request is a prefill leg that must hand back kv_transfer_params (answered whole, not streamed). */
function isPrefillLeg(request: EngineRequest): boolean {
  return request.disaggParams?.do_remote_decode === true;
}

export class VllmProtocol implements HttpProtocol {
  readonly name = "vllm" as const;
  readonly healthPath = VLLM_PATHS.health;
  readonly metricsPath = VLLM_PATHS.metrics;
  readonly resetPrefixCachePath = "/reset_prefix_cache";
  /** Chosen by describe(): the generate endpoint when the engine serves it. */
  endpoint: VllmEndpoint = "completions";

  constructor(private readonly forced?: VllmEndpoint) {}

  async describe(client: GenerateContext["client"], settings: EngineSettings): Promise<EngineDescription> {
    const models = (await client.json(VLLM_PATHS.models)) as VllmModelList;
    // LoRA adapters are listed too, with their base model as parent.
    const base = models.data?.find((card) => !card.parent) ?? models.data?.[0];
    if (!base) throw new Error(`engine ${VLLM_PATHS.models} lists no model`);
    const reading = parseEngineMetrics("vllm", await client.text(VLLM_PATHS.metrics));
    this.endpoint = this.forced ?? (await this.probeGenerate(client));
    const contextLength = numberOr(base.max_model_len);
    return {
      servedModel: base.id,
      capacity: capacityOf(
        settings,
        {
          ...(reading.blockSize === undefined ? {} : { blockSize: reading.blockSize }),
          ...(reading.totalBlocks === undefined ? {} : { totalKvBlocks: reading.totalBlocks }),
          ...(contextLength === undefined ? {} : { contextLength }),
        },
        VLLM_DEFAULTS,
      ),
    };
  }

  /** An empty body to the generate route: a validation error means it exists, 404 that this vLLM predates it. */
  private async probeGenerate(client: GenerateContext["client"]): Promise<VllmEndpoint> {
    const status = await client.status(VLLM_PATHS.generate, { method: "POST", body: {} });
    return status === 404 || status === 405 || status === 0 ? "completions" : "generate";
  }

  async *generate(
    request: EngineRequest,
    signal: AbortSignal,
    context: GenerateContext,
  ): AsyncIterable<EngineOutput> {
    const { client, settings, servedModel } = context;
    const path = this.endpoint === "generate" ? VLLM_PATHS.generate : VLLM_PATHS.completions;
    const headers = { ...context.headers, ...vllmHeaders(request) };
    if (isPrefillLeg(request)) {
      // vLLM returns kv_transfer_params only in a whole (non-streamed) answer.
      const body =
        this.endpoint === "generate"
          ? vllmGenerateBody(request, settings, servedModel, false)
          : vllmCompletionBody(request, settings, servedModel, false);
      const response = await requestJson(client, path, body, headers, signal);
      yield outputOfResponse(request, response as VllmGenerateResponse | VllmCompletionResponse);
      return;
    }
    const body =
      this.endpoint === "generate"
        ? vllmGenerateBody(request, settings, servedModel, true)
        : vllmCompletionBody(request, settings, servedModel, true);
    const reader = new VllmStreamReader(request.tokenIds.length, request.params.logprobs);
    let finished = false;
    try {
      for await (const payloads of client.events(path, { body, headers, signal })) {
        const output = reader.read(payloads);
        if (!output) continue;
        if (output.finishReason) finished = true;
        yield output;
        if (finished) return;
      }
    } catch (error) {
      throw error instanceof EngineHttpError ? engineRequestError(error.status, error.message) : error;
    }
    if (!finished) {
      const last = reader.unfinished();
      if (last) yield last;
      else if (!signal.aborted) throw new Error("the engine closed the stream before the request finished");
    }
  }
}

async function requestJson(
  client: GenerateContext["client"],
  path: string,
  body: unknown,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<unknown> {
  try {
    return await client.json(path, { body, headers, signal });
  } catch (error) {
    throw error instanceof EngineHttpError ? engineRequestError(error.status, error.message) : error;
  }
}
