import type { ToolCall } from "@kvasir/llm";
import type { EngineFinish, EngineUsage, RouteDecision } from "@kvasir/serving";

export type OpenAIFinishReason = "stop" | "length" | "tool_calls";

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export function toUsage(usage: EngineUsage): OpenAIUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
  };
}

/** A cancelled engine stream ends like a stop: OpenAI has no other reason for it. */
export function toFinishReason(finish: EngineFinish, toolCalls: number): OpenAIFinishReason {
  if (toolCalls > 0) return "tool_calls";
  return finish === "length" ? "length" : "stop";
}

/** Which choice an object belongs to (n > 1, prompt lists) and its logprobs, when asked. */
export interface ChoiceExtras {
  index?: number;
  logprobs?: unknown;
}

/** Fields every response object of one request shares. */
export interface ResponseHeader {
  id: string;
  created: number;
  model: string;
}

export interface ChatMessageOut {
  role: "assistant";
  content: string | null;
  reasoning_content?: string;
  tool_calls?: ToolCall[];
}

/**
 * Dynamo's `nvext.worker_id` on a non-streamed answer: which workers prefilled and decoded it (the same one unless
 * it was served disaggregated). Ids are u64, so they are decimal strings (what `nvext.backend_instance_id` accepts).
 */
export function nvextOf({ worker, prefillWorker = worker }: ServedBy) {
  if (!worker || !prefillWorker) return {};
  return {
    nvext: {
      worker_id: {
        prefill_worker_id: prefillWorker.instanceId.toString(),
        prefill_dp_rank: prefillWorker.dpRank,
        decode_worker_id: worker.instanceId.toString(),
        decode_dp_rank: worker.dpRank,
      },
    },
  };
}

/** The workers that served a request: the decoding one, and the prefill one when that was another. */
export interface ServedBy {
  worker?: RouteDecision;
  prefillWorker?: RouteDecision;
}

export function chatCompletion(
  header: ResponseHeader,
  message: ChatMessageOut,
  finish: OpenAIFinishReason,
  usage: EngineUsage,
  servedBy: ServedBy,
  { index = 0, logprobs = null }: ChoiceExtras = {},
) {
  return {
    id: header.id,
    object: "chat.completion" as const,
    created: header.created,
    model: header.model,
    choices: [{ index, message, logprobs, finish_reason: finish }],
    usage: toUsage(usage),
    ...nvextOf(servedBy),
  };
}

export interface ChatChunkDelta {
  role?: "assistant";
  content?: string;
  reasoning_content?: string;
  tool_calls?: ToolCall[];
}

export function chatChunk(
  header: ResponseHeader,
  delta: ChatChunkDelta,
  finish: OpenAIFinishReason | null,
  withUsageField: boolean,
  { index = 0, logprobs = null }: ChoiceExtras = {},
) {
  return {
    id: header.id,
    object: "chat.completion.chunk" as const,
    created: header.created,
    model: header.model,
    choices: [{ index, delta, logprobs, finish_reason: finish }],
    ...(withUsageField ? { usage: null } : {}),
  };
}

/** The `stream_options.include_usage` chunk: no choices, the request's usage. */
export function usageChunk(
  header: ResponseHeader,
  object: "chat.completion.chunk" | "text_completion",
  usage: EngineUsage,
) {
  return {
    id: header.id,
    object,
    created: header.created,
    model: header.model,
    choices: [],
    usage: toUsage(usage),
  };
}

export function textCompletion(
  header: ResponseHeader,
  text: string,
  finish: OpenAIFinishReason | null,
  usage: EngineUsage | null,
  withUsageField: boolean,
  { index = 0, logprobs = null }: ChoiceExtras = {},
) {
  return {
    id: header.id,
    object: "text_completion" as const,
    created: header.created,
    model: header.model,
    choices: [{ index, text, logprobs, finish_reason: finish }],
    ...(usage ? { usage: toUsage(usage) } : withUsageField ? { usage: null } : {}),
  };
}
