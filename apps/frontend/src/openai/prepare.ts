import type { ChatCompletionRequest, CompletionRequest, DetokenizerOptions } from "@kvasir/llm";
import type { EngineParams } from "@kvasir/serving";
import { badRequest } from "../errors.js";
import type { ServedModel } from "../model-registry.js";
import type { Preprocessor } from "../preprocessor.js";

/** A validated, tokenized request, ready to route; the same for chat and completions. */
export interface PreparedRequest {
  model: ServedModel<Preprocessor>;
  tokenIds: number[];
  params: EngineParams;
  detokenizer: DetokenizerOptions;
  stream: boolean;
  includeUsage: boolean;
  priority: number;
  backendInstanceId?: bigint;
}

type SamplingFields = Omit<ChatCompletionRequest | CompletionRequest, "messages" | "prompt">;

/** Checks what the schema cannot (the context window) and derives engine and detokenizer parameters. */
export function prepare(
  body: SamplingFields & { max_completion_tokens?: number | null },
  model: ServedModel<Preprocessor>,
  eosTokenIds: readonly number[],
  tokenIds: number[],
): PreparedRequest {
  const types = model.card.modelTypes;
  if (types.includes("embedding") && !types.includes("chat") && !types.includes("completions")) {
    throw badRequest(`The model '${model.id}' is an embedding model; use /v1/embeddings.`, "model");
  }
  if (tokenIds.length === 0) throw badRequest("The prompt is empty.", "prompt");
  const contextLength = model.card.contextLength;
  const requested = body.max_completion_tokens ?? body.max_tokens ?? undefined;
  if (tokenIds.length >= contextLength) {
    throw badRequest(
      `This model's maximum context length is ${contextLength} tokens; the prompt has ${tokenIds.length}.`,
      "messages",
    );
  }
  if (requested !== undefined && tokenIds.length + requested > contextLength) {
    throw badRequest(
      `This model's maximum context length is ${contextLength} tokens. However, you requested ` +
        `${tokenIds.length + requested} tokens (${tokenIds.length} in the prompt, ${requested} for the completion).`,
      body.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens",
    );
  }
  const maxTokens = requested ?? contextLength - tokenIds.length;
  const ignoreEos = body.ignore_eos ?? false;
  const stopTokenIds = [...(body.stop_token_ids ?? [])];
  if (!ignoreEos) stopTokenIds.push(...eosTokenIds);
  const minTokens = body.min_tokens ?? 0;
  // The engine would generate past its own limit otherwise (vLLM refuses this too).
  if (minTokens > maxTokens) {
    throw badRequest(`min_tokens must be at most max_tokens (${maxTokens}); got ${minTokens}.`, "min_tokens");
  }
  const params: EngineParams = { maxTokens, stopTokenIds, ignoreEos, minTokens };
  if (body.temperature != null) params.temperature = body.temperature;
  if (body.top_p != null) params.topP = body.top_p;
  if (body.top_k != null && body.top_k > 0) params.topK = body.top_k;
  if (body.seed != null) params.seed = BigInt.asUintN(64, BigInt(body.seed));
  const detokenizer: DetokenizerOptions = {
    stopTokenIds,
    minTokens,
    maxTokens,
    promptIds: tokenIds,
    includeStopStrInOutput: body.include_stop_str_in_output ?? false,
    skipSpecialTokens: body.skip_special_tokens ?? true,
  };
  if (body.stop != null) detokenizer.stop = body.stop;
  const prepared: PreparedRequest = {
    model,
    tokenIds,
    params,
    detokenizer,
    stream: body.stream ?? false,
    includeUsage: body.stream_options?.include_usage ?? false,
    priority: body.nvext?.agent_hints?.priority ?? 0,
  };
  const backend = body.nvext?.backend_instance_id;
  if (backend !== undefined) prepared.backendInstanceId = backend;
  return prepared;
}

/**
 * `n` independent choices of one prepared request. A request with a seed gives each choice its own (seed + index),
 * so the choices differ yet the answer is reproducible; without one, each choice's request id seeds it.
 */
export function withChoices(prepared: PreparedRequest, n: number): PreparedRequest[] {
  return Array.from({ length: n }, (_, i) => {
    if (i === 0) return prepared;
    const seed = prepared.params.seed;
    const params =
      seed === undefined
        ? { ...prepared.params }
        : { ...prepared.params, seed: BigInt.asUintN(64, seed + BigInt(i)) };
    return { ...prepared, params };
  });
}
