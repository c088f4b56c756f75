// vLLM's OpenAI-compatible HTTP API, the parts a token-level client uses: `/v1/completions` with a token-id
// prompt and `return_token_ids`, the tokens-in/tokens-out `/inference/v1/generate`, `/v1/models`, `/health`,
// `/version`, and the NixlConnector `kv_transfer_params` of prefill/decode disaggregation.
// Shapes from vllm-project/vllm main (2026; release line 0.2x):
//   vllm/entrypoints/openai/completion/protocol.py (CompletionRequest, CompletionResponse, CompletionStreamResponse),
//   vllm/entrypoints/serve/disagg/protocol.py (GenerateRequest, GenerateResponse, GenerateStreamResponse) and
//   api_router.py (POST /inference/v1/generate), vllm/entrypoints/openai/engine/protocol.py (ErrorResponse,
//   ModelList, UsageInfo), vllm/sampling_params.py (SamplingParams), and FORMATS.md §2.3 for kv_transfer_params.
// Only fields Kvasir sends or reads are typed; both sides must tolerate the rest (vLLM ignores unknown request
// fields with a warning, and adds response fields over time).

import type { VllmCompletionLogprobs, VllmTokenLogprobs } from "./logprobs.js";

export const VLLM_PATHS = {
  completions: "/v1/completions",
  /** Tokens in, tokens out; present in vLLM builds from late 2025 on (404 on older ones). */
  generate: "/inference/v1/generate",
  models: "/v1/models",
  health: "/health",
  version: "/version",
  metrics: "/metrics",
} as const;

/** `stream_options` of both endpoints (engine/protocol.py StreamOptions). */
export interface VllmStreamOptions {
  include_usage?: boolean | null;
  continuous_usage_stats?: boolean | null;
}

/** The sampling fields shared by `/v1/completions` (flat in the body) and `SamplingParams`. */
export interface VllmSamplingFields {
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  seed?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  repetition_penalty?: number | null;
  stop?: string | string[] | null;
  stop_token_ids?: number[] | null;
  ignore_eos?: boolean;
  min_tokens?: number;
  logprobs?: number | null;
  n?: number;
}

/** Disaggregation hand-off, NixlConnector shape (FORMATS.md §2.3). Forward it verbatim: forks add keys. */
export interface VllmKvTransferParams {
  do_remote_decode?: boolean;
  do_remote_prefill?: boolean;
  remote_engine_id?: string | null;
  remote_block_ids?: number[][] | number[] | null;
  remote_request_id?: string | null;
  remote_host?: string | null;
  remote_port?: number | null;
  tp_size?: number;
  [key: string]: unknown;
}

/** The request a prefill leg carries before the prefiller has answered (toy_proxy_server.py). */
export function vllmPrefillLegParams(): VllmKvTransferParams {
  return {
    do_remote_decode: true,
    do_remote_prefill: false,
    remote_engine_id: null,
    remote_block_ids: null,
    remote_host: null,
    remote_port: null,
  };
}

/** POST /v1/completions with a token-id prompt (CompletionRequest). */
export interface VllmCompletionRequest extends VllmSamplingFields {
  /** Served model name or a LoRA adapter name. */
  model?: string | null;
  /** Token ids (one prompt) or a list of token-id lists (a batch); strings also accepted by vLLM. */
  prompt: number[] | number[][] | string | string[];
  max_tokens?: number | null;
  stream?: boolean | null;
  stream_options?: VllmStreamOptions | null;
  echo?: boolean | null;
  /** Return `prompt_token_ids` and `token_ids` in each choice (streamed: prompt ids in the first chunk only). */
  return_token_ids?: boolean | null;
  /** With `logprobs`: tokens named `token_id:<id>` rather than decoded (logprobs.ts). */
  return_tokens_as_token_ids?: boolean | null;
  /** Lower is earlier; anything but 0 needs `--scheduling-policy priority`. */
  priority?: number;
  request_id?: string;
  cache_salt?: string | null;
  kv_transfer_params?: VllmKvTransferParams | null;
  skip_special_tokens?: boolean;
  include_stop_str_in_output?: boolean;
  user?: string | null;
}

/** `usage` (engine/protocol.py UsageInfo). */
export interface VllmUsage {
  prompt_tokens: number;
  total_tokens: number;
  completion_tokens: number | null;
  prompt_tokens_details?: { cached_tokens: number | null } | null;
}

/** OpenAI finish reasons as vLLM reports them; `abort` when the engine aborted the request. */
export type VllmFinishReason = "stop" | "length" | "abort" | "error" | (string & {});

export interface VllmCompletionChoice {
  index: number;
  text: string;
  logprobs: unknown | null;
  finish_reason: VllmFinishReason | null;
  /** The stop token id or stop string that ended generation; null for EOS or length. */
  stop_reason: number | string | null;
  token_ids?: number[] | null;
  prompt_logprobs?: unknown | null;
  prompt_token_ids?: number[] | null;
  routed_experts?: string | null;
}

export interface VllmCompletionResponse {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  choices: VllmCompletionChoice[];
  usage: VllmUsage;
  service_tier?: string | null;
  system_fingerprint?: string | null;
  /** Set by a prefill-role engine (NixlConnector request_finished). */
  kv_transfer_params?: VllmKvTransferParams | null;
  ec_transfer_params?: unknown | null;
  metrics?: unknown | null;
}

export interface VllmCompletionStreamChoice {
  index: number;
  text: string;
  logprobs: unknown | null;
  finish_reason: VllmFinishReason | null;
  stop_reason: number | string | null;
  prompt_token_ids?: number[] | null;
  token_ids?: number[] | null;
}

/** One `data:` chunk of a streamed completion; the usage-only last chunk has `choices: []`. */
export interface VllmCompletionStreamResponse {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  choices: VllmCompletionStreamChoice[];
  usage?: VllmUsage | null;
}

/** vLLM's SamplingParams as JSON (vllm/sampling_params.py), the body of /inference/v1/generate. */
export interface VllmSamplingParams extends VllmSamplingFields {
  /** Defaults to 16 when absent, unless the server applies its own default. */
  max_tokens?: number | null;
  detokenize?: boolean;
  skip_special_tokens?: boolean;
  prompt_logprobs?: number | null;
}

/** POST /inference/v1/generate (serve/disagg/protocol.py GenerateRequest). */
export interface VllmGenerateRequest {
  request_id?: string;
  token_ids: number[];
  sampling_params: VllmSamplingParams;
  model?: string | null;
  stream?: boolean | null;
  stream_options?: VllmStreamOptions | null;
  cache_salt?: string | null;
  priority?: number;
  kv_transfer_params?: VllmKvTransferParams | null;
}

export interface VllmGenerateChoice {
  index: number;
  logprobs: unknown | null;
  finish_reason: VllmFinishReason | null;
  token_ids: number[] | null;
  routed_experts?: string | null;
}

export interface VllmGenerateResponse {
  request_id: string;
  model?: string | null;
  created?: number | null;
  choices: VllmGenerateChoice[];
  usage?: VllmUsage | null;
  prompt_logprobs?: unknown | null;
  kv_transfer_params?: VllmKvTransferParams | null;
  ec_transfer_params?: unknown | null;
}

/** One `data:` chunk of a streamed generate: delta token ids per choice. */
export interface VllmGenerateStreamResponse {
  request_id: string;
  choices: VllmGenerateChoice[];
  usage?: VllmUsage | null;
}

/** GET /v1/models (ModelList of ModelCard). LoRA adapters appear as extra cards whose `parent` is the base. */
export interface VllmModelCard {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
  root: string | null;
  parent: string | null;
  max_model_len: number | null;
  permission: unknown[];
}

export interface VllmModelList {
  object: "list";
  data: VllmModelCard[];
}

/** GET /version. */
export interface VllmVersion {
  version: string;
}

/** Error body of every endpoint (ErrorResponse{error: ErrorInfo}); `code` repeats the HTTP status. */
export interface VllmErrorResponse {
  error: { message: string; type: string; param: string | null; code: number };
}

export function vllmError(
  message: string,
  code: number,
  type = "BadRequestError",
  param: string | null = null,
): VllmErrorResponse {
  return { error: { message, type, param, code } };
}

/** A streamed error arrives as one `data:` frame holding an ErrorResponse, before `[DONE]`. */
export function isVllmError(value: unknown): value is VllmErrorResponse {
  if (typeof value !== "object" || value === null || !("error" in value)) return false;
  const error = value.error;
  return (
    typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
  );
}

// Builders: bodies with the keys in the order vLLM's pydantic models serialize them, so what the simulator writes
// matches a real server byte for byte (fixtures/vllm). Streamed chunks are dumped with exclude_unset (every field
// the server passes, nulls included); the usage chunk with exclude_none; whole responses with every field.

/** `usage`; `cached` fills prompt_tokens_details (vLLM's --enable-prompt-tokens-details). */
export function vllmUsage(
  promptTokens: number,
  completionTokens: number,
  cached: number | null = null,
): VllmUsage {
  return {
    prompt_tokens: promptTokens,
    total_tokens: promptTokens + completionTokens,
    completion_tokens: completionTokens,
    prompt_tokens_details: cached === null ? null : { cached_tokens: cached },
  };
}

export interface VllmChunkFields {
  id: string;
  created: number;
  model: string;
}

/** One streamed completion chunk for choice `index`. */
export function vllmCompletionChunk(
  head: VllmChunkFields,
  choice: {
    index: number;
    text: string;
    finishReason: VllmFinishReason | null;
    stopReason: number | string | null;
    /** The prompt, on the first chunk of a `return_token_ids` request; null otherwise. */
    promptTokenIds: number[] | null;
    /** This chunk's new tokens with `return_token_ids`; null otherwise. */
    tokenIds: number[] | null;
    /** With `logprobs` asked: this chunk's tokens' (logprobs.ts). */
    logprobs?: VllmCompletionLogprobs | null;
  },
): VllmCompletionStreamResponse {
  return {
    id: head.id,
    object: "text_completion",
    created: head.created,
    model: head.model,
    choices: [
      {
        index: choice.index,
        text: choice.text,
        logprobs: choice.logprobs ?? null,
        finish_reason: choice.finishReason,
        stop_reason: choice.stopReason,
        prompt_token_ids: choice.promptTokenIds,
        token_ids: choice.tokenIds,
      },
    ],
  };
}

/** The usage-only last chunk (stream_options.include_usage), nulls left out. */
export function vllmCompletionUsageChunk(
  head: VllmChunkFields,
  usage: VllmUsage,
): VllmCompletionStreamResponse {
  const { prompt_tokens_details, ...rest } = usage;
  return {
    id: head.id,
    object: "text_completion",
    created: head.created,
    model: head.model,
    choices: [],
    usage: prompt_tokens_details ? { ...rest, prompt_tokens_details } : rest,
  };
}

/** A whole (non-streamed) completion response. */
export function vllmCompletionResponse(
  head: VllmChunkFields,
  choices: {
    text: string;
    finishReason: VllmFinishReason | null;
    stopReason: number | string | null;
    tokenIds: number[] | null;
    promptTokenIds: number[] | null;
    logprobs?: VllmCompletionLogprobs | null;
  }[],
  usage: VllmUsage,
  kvTransferParams: VllmKvTransferParams | null = null,
): VllmCompletionResponse {
  return {
    id: head.id,
    object: "text_completion",
    created: head.created,
    model: head.model,
    choices: choices.map((c, index) => ({
      index,
      text: c.text,
      logprobs: c.logprobs ?? null,
      finish_reason: c.finishReason,
      stop_reason: c.stopReason,
      token_ids: c.tokenIds,
      prompt_logprobs: null,
      prompt_token_ids: c.promptTokenIds,
      routed_experts: null,
    })),
    service_tier: null,
    system_fingerprint: null,
    usage,
    kv_transfer_params: kvTransferParams,
    ec_transfer_params: null,
    metrics: null,
  };
}

/** One streamed /inference/v1/generate chunk: this step's token ids. */
export function vllmGenerateChunk(
  requestId: string,
  choice: {
    index: number;
    finishReason: VllmFinishReason | null;
    tokenIds: number[];
    logprobs?: VllmTokenLogprobs | null;
  },
  usage: VllmUsage | null = null,
): VllmGenerateStreamResponse {
  return {
    request_id: requestId,
    choices: [
      {
        index: choice.index,
        logprobs: choice.logprobs ?? null,
        finish_reason: choice.finishReason,
        token_ids: choice.tokenIds,
        routed_experts: null,
      },
    ],
    usage,
  };
}

/** A whole /inference/v1/generate response. */
export function vllmGenerateResponse(
  head: { requestId: string; model: string; created: number },
  choices: {
    finishReason: VllmFinishReason | null;
    tokenIds: number[];
    logprobs?: VllmTokenLogprobs | null;
  }[],
  usage: VllmUsage,
  kvTransferParams: VllmKvTransferParams | null = null,
): VllmGenerateResponse {
  return {
    request_id: head.requestId,
    model: head.model,
    created: head.created,
    choices: choices.map((c, index) => ({
      index,
      logprobs: c.logprobs ?? null,
      finish_reason: c.finishReason,
      token_ids: c.tokenIds,
      routed_experts: null,
    })),
    usage,
    prompt_logprobs: null,
    kv_transfer_params: kvTransferParams,
    ec_transfer_params: null,
  };
}

/** GET /v1/models: the served model and any LoRA adapters (cards whose root is the adapter, parent the base). */
export function vllmModelList(
  served: { id: string; root: string; maxModelLen: number; created: number; permissionId: string },
  loras: readonly string[] = [],
): VllmModelList {
  const permission = (created: number, id: string) => ({
    id,
    object: "model_permission",
    created,
    allow_create_engine: false,
    allow_sampling: true,
    allow_logprobs: true,
    allow_search_indices: false,
    allow_view: true,
    allow_fine_tuning: false,
    organization: "*",
    group: null,
    is_blocking: false,
  });
  const base: VllmModelCard = {
    id: served.id,
    object: "model",
    created: served.created,
    owned_by: "vllm",
    root: served.root,
    parent: null,
    max_model_len: served.maxModelLen,
    permission: [permission(served.created, served.permissionId)],
  };
  const adapters = loras.map(
    (name): VllmModelCard => ({
      id: name,
      object: "model",
      created: served.created,
      owned_by: "vllm",
      root: name,
      parent: served.id,
      max_model_len: null,
      permission: [permission(served.created, `${served.permissionId}-${name}`)],
    }),
  );
  return { object: "list", data: [base, ...adapters] };
}
