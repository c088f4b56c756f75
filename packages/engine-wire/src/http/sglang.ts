// SGLang's native HTTP API, the parts a token-level client uses: `/generate` with `input_ids` (streamed and not),
// `/abort_request`, `/health`, `/get_model_info`, `/server_info` (alias `/get_server_info`), and the PD
// bootstrap fields of prefill/decode disaggregation.
// Shapes from sgl-project/sglang main (2026; release line 0.5.x):
//   python/sglang/srt/managers/io_struct.py (GenerateReqInput, AbortReq),
//   python/sglang/srt/managers/tokenizer_manager.py (_handle_batch_output: the out dict and meta_info; streamed
//   output is cumulative unless the server runs with --incremental-streaming-output),
//   python/sglang/srt/managers/schedule_batch.py (FINISH_LENGTH / FINISH_MATCHED_TOKEN / FINISH_MATCHED_STR /
//   FINISH_ABORT .to_json()), python/sglang/srt/sampling/sampling_params.py (SamplingParams),
//   python/sglang/srt/entrypoints/http_server.py (routes; /health answers 503 while starting or shutting down;
//   stream frames `data: <json>\n\n` then `data: [DONE]\n\n`), and FORMATS.md §2.4 for the bootstrap fields.

import type { SglangLogprobFields } from "./logprobs.js";

export const SGLANG_PATHS = {
  generate: "/generate",
  abort: "/abort_request",
  health: "/health",
  healthGenerate: "/health_generate",
  modelInfo: "/get_model_info",
  serverInfo: "/server_info",
  /** The older name of /server_info, still served. */
  serverInfoLegacy: "/get_server_info",
  models: "/v1/models",
  metrics: "/metrics",
} as const;

/** SamplingParams as a JSON dict (sampling_params.py); note `max_new_tokens`, default 128. */
export interface SglangSamplingParams {
  max_new_tokens?: number | null;
  min_new_tokens?: number;
  stop?: string | string[] | null;
  stop_token_ids?: number[] | null;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
  repetition_penalty?: number;
  ignore_eos?: boolean;
  skip_special_tokens?: boolean;
  no_stop_trim?: boolean;
  n?: number;
  sampling_seed?: number | null;
  [key: string]: unknown;
}

/** POST /generate (GenerateReqInput), one prompt as token ids. */
export interface SglangGenerateRequest {
  input_ids: number[];
  sampling_params?: SglangSamplingParams;
  /** Request id (BaseReq.rid); the engine makes one up when absent. Used by /abort_request. */
  rid?: string;
  stream?: boolean;
  /** Logprobs of the output tokens in meta_info (logprobs.ts), and the top `top_logprobs_num` at each. */
  return_logprob?: boolean;
  top_logprobs_num?: number;
  /** LoRA adapter name or path (the name registered with --lora-paths). */
  lora_path?: string | null;
  /** Higher is earlier with --enable-priority-scheduling (the default ordering; see --schedule-low-priority-values-first). */
  priority?: number | null;
  /** PD disaggregation: where the prefill's bootstrap server is and the rendezvous id (FORMATS.md §2.4). */
  bootstrap_host?: string | null;
  bootstrap_port?: number | null;
  bootstrap_room?: number | null;
  routed_dp_rank?: number | null;
  extra_key?: string | null;
}

/** meta_info.finish_reason (schedule_batch.py BaseFinishReason.to_json); null while still running. */
export type SglangFinishReason =
  | { type: "length"; length: number }
  | { type: "stop"; matched: number | string | null }
  | { type: "abort"; message: string; status_code?: number | null; err_type?: string | null };

export interface SglangMetaInfo {
  id: string;
  finish_reason: SglangFinishReason | null;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  /** Set on the final output only. */
  e2e_latency?: number;
  weight_version?: string;
  [key: string]: unknown;
}

/**
 * One /generate result: the whole answer, or one `data:` chunk of a stream. Streamed `text`/`output_ids` are
 * cumulative (everything so far) by default; deltas with --incremental-streaming-output.
 */
export interface SglangGenerateResponse {
  text: string;
  output_ids: number[];
  meta_info: SglangMetaInfo;
}

/** POST /abort_request (AbortReq). */
export interface SglangAbortRequest {
  rid?: string;
  abort_all?: boolean;
}

/** GET /get_model_info. */
export interface SglangModelInfo {
  model_path: string;
  tokenizer_path: string | null;
  is_generation: boolean;
  preferred_sampling_params?: string | null;
  weight_version?: string;
  [key: string]: unknown;
}

/** GET /server_info: the server args flattened, scheduler info, per-dp internal states and the version. */
export interface SglangServerInfo {
  model_path: string;
  served_model_name?: string;
  page_size: number;
  context_length: number | null;
  max_running_requests: number | null;
  disaggregation_mode: "null" | "prefill" | "decode";
  disaggregation_bootstrap_port: number;
  dp_size?: number;
  internal_states: { max_total_num_tokens?: number; [key: string]: unknown }[];
  version: string;
  [key: string]: unknown;
}

/** Errors of the native endpoints: `{"error": {"message": ...}}` with the HTTP status. */
export interface SglangErrorResponse {
  error: { message: string };
}

export function sglangError(message: string): SglangErrorResponse {
  return { error: { message } };
}

export function isSglangError(value: unknown): value is SglangErrorResponse {
  if (typeof value !== "object" || value === null || !("error" in value)) return false;
  const error = value.error;
  return (
    typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
  );
}

/** Default bootstrap port of a prefill server (server_args.py). */
export const SGLANG_DEFAULT_BOOTSTRAP_PORT = 8998;

/** A fresh rendezvous id as the routers pick it: uniform in [0, 2^63-1] (mini_lb.py); a JSON-safe number here. */
export function sglangBootstrapRoom(random: () => number = Math.random): number {
  return Math.floor(random() * Number.MAX_SAFE_INTEGER);
}

// Builders: bodies with keys in the order SGLang's tokenizer manager fills them (fixtures/sglang).

/** meta_info as tokenizer_manager builds it; `e2eLatency` only on the final output. */
export function sglangMetaInfo(fields: {
  id: string;
  finishReason: SglangFinishReason | null;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  e2eLatency?: number;
  /** With return_logprob: meta_info's logprob fields (sglangLogprobFields), after the counts. */
  logprobs?: SglangLogprobFields;
}): SglangMetaInfo {
  const meta: SglangMetaInfo = {
    id: fields.id,
    finish_reason: fields.finishReason,
    prompt_tokens: fields.promptTokens,
    weight_version: "default",
    num_retractions: 0,
    reasoning_tokens: 0,
    completion_tokens: fields.completionTokens,
    cached_tokens: fields.cachedTokens,
  };
  if (fields.logprobs) Object.assign(meta, fields.logprobs);
  if (fields.e2eLatency !== undefined) meta.e2e_latency = fields.e2eLatency;
  return meta;
}

export function sglangGenerateOutput(
  text: string,
  outputIds: number[],
  meta: SglangMetaInfo,
): SglangGenerateResponse {
  return { text, output_ids: outputIds, meta_info: meta };
}
