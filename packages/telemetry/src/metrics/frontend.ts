// Frontend metric families with Dynamo's names, help texts, labels and buckets (dynamo_frontend_*).
import { Counter, Gauge, Histogram } from "prom-client";
import { logBucketsFromEnv } from "./buckets.js";
import type { MetricsRegistry } from "./registry.js";

/** `endpoint` label values Dynamo uses. */
export type FrontendEndpoint =
  | "completions"
  | "chat_completions"
  | "embeddings"
  | "responses"
  | "anthropic_messages";
export type RequestType = "unary" | "stream";
export type RequestStatus = "success" | "error";
/** `error_type` label values ("" on success). */
export type FrontendErrorType =
  | ""
  | "validation"
  | "not_found"
  | "overload"
  | "unavailable"
  | "cancelled"
  | "response_timeout"
  | "internal"
  | "not_implemented";
/** `stage` of dynamo_frontend_stage_requests; `phase` is prefill|decode|aggregated, "" for preprocess. */
export type FrontendStage = "preprocess" | "route" | "dispatch";
export type FrontendPhase = "" | "prefill" | "decode" | "aggregated";

type WorkerLabels = "worker_id" | "dp_rank" | "worker_type";

export interface FrontendMetrics {
  requestsTotal: Counter<"model" | "endpoint" | "request_type" | "status" | "error_type">;
  requestsStartedTotal: Counter<"model" | "endpoint" | "request_type">;
  /** From HTTP handler entry to response completion; use this rather than inflightRequests. */
  activeRequests: Gauge<"model">;
  /** Deprecated in Dynamo in favour of activeRequests; kept so old dashboards work. */
  inflightRequests: Gauge<"model">;
  /** Deprecated in Dynamo in favour of sum(stage_requests); requests not yet given a first token. */
  queuedRequests: Gauge<"model">;
  stageRequests: Gauge<"stage" | "phase">;
  disconnectedClients: Gauge<never>;
  requestDuration: Histogram<"model">;
  inputSequenceTokens: Histogram<"model">;
  outputSequenceTokens: Histogram<"model">;
  cachedTokens: Histogram<"model">;
  outputTokensTotal: Counter<"model">;
  timeToFirstToken: Histogram<"model">;
  interTokenLatency: Histogram<"model">;
  modelTotalKvBlocks: Gauge<"model">;
  modelMaxNumSeqs: Gauge<"model">;
  modelMaxNumBatchedTokens: Gauge<"model">;
  modelContextLength: Gauge<"model">;
  modelKvCacheBlockSize: Gauge<"model">;
  modelMigrationLimit: Gauge<"model">;
  modelMigrationTotal: Counter<"model" | "migration_type">;
  /** Kvasir's: how disaggregated requests were prefilled (remote, local by choice, fallback after a failure). */
  disaggregatedRequestsTotal: Counter<"model" | "prefill">;
  modelWorkers: Gauge<"model">;
  workerActiveDecodeBlocks: Gauge<WorkerLabels>;
  workerActivePrefillTokens: Gauge<WorkerLabels>;
  workerLastTimeToFirstToken: Gauge<WorkerLabels>;
  workerLastInputSequenceTokens: Gauge<WorkerLabels>;
  workerLastInterTokenLatency: Gauge<WorkerLabels>;
  routerQueuePendingRequests: Gauge<"model" | "worker_type" | "policy_class">;
}

export interface FrontendMetricsOptions {
  /** For Dynamo's DYN_METRICS_{TTFT,ITL,REQUEST_DURATION,INPUT_SEQUENCE,OUTPUT_SEQUENCE}_{MIN,MAX,COUNT}. */
  env?: Record<string, string | undefined>;
}

const P = "dynamo_frontend_";

export function createFrontendMetrics(
  registry: MetricsRegistry,
  options: FrontendMetricsOptions = {},
): FrontendMetrics {
  const env = options.env ?? process.env;
  const registers = [registry];
  const model = ["model"] as const;
  const worker = ["worker_id", "dp_rank", "worker_type"] as const;
  const inputBuckets = logBucketsFromEnv(
    "DYN_METRICS_INPUT_SEQUENCE",
    { min: 50, max: 128000, count: 12 },
    env,
  );
  const gauge = <T extends string>(name: string, help: string, labelNames: readonly T[]) =>
    new Gauge<T>({ name: P + name, help, labelNames, registers });
  const histogram = <T extends string>(
    name: string,
    help: string,
    labelNames: readonly T[],
    buckets: number[],
  ) => new Histogram<T>({ name: P + name, help, labelNames, buckets, registers });
  const counter = <T extends string>(name: string, help: string, labelNames: readonly T[]) =>
    new Counter<T>({ name: P + name, help, labelNames, registers });

  return {
    requestsTotal: counter("requests_total", "Total number of LLM requests processed", [
      "model",
      "endpoint",
      "request_type",
      "status",
      "error_type",
    ]),
    requestsStartedTotal: counter(
      "requests_started_total",
      "Total number of LLM requests accepted by the frontend handler",
      ["model", "endpoint", "request_type"],
    ),
    activeRequests: gauge(
      "active_requests",
      "Number of requests currently being handled by the frontend, from HTTP handler entry to response completion",
      model,
    ),
    inflightRequests: gauge("inflight_requests", "Number of inflight requests", model),
    queuedRequests: gauge("queued_requests", "Number of requests in HTTP processing queue", model),
    stageRequests: gauge("stage_requests", "Number of requests currently in each frontend pipeline stage", [
      "stage",
      "phase",
    ]),
    disconnectedClients: gauge("disconnected_clients", "Number of disconnected clients", []),
    requestDuration: histogram(
      "request_duration_seconds",
      "Duration of LLM requests",
      model,
      logBucketsFromEnv("DYN_METRICS_REQUEST_DURATION", { min: 1, max: 512, count: 10 }, env),
    ),
    inputSequenceTokens: histogram(
      "input_sequence_tokens",
      "Input sequence length in tokens",
      model,
      inputBuckets,
    ),
    outputSequenceTokens: histogram(
      "output_sequence_tokens",
      "Output sequence length in tokens",
      model,
      logBucketsFromEnv("DYN_METRICS_OUTPUT_SEQUENCE", { min: 50, max: 32000, count: 10 }, env),
    ),
    cachedTokens: histogram(
      "cached_tokens",
      "Number of cached tokens (prefix cache hits) per request",
      model,
      inputBuckets,
    ),
    outputTokensTotal: counter(
      "output_tokens_total",
      "Total number of output tokens generated (updates in real-time)",
      model,
    ),
    timeToFirstToken: histogram(
      "time_to_first_token_seconds",
      "Time to first token in seconds",
      model,
      logBucketsFromEnv("DYN_METRICS_TTFT", { min: 0.001, max: 480, count: 18 }, env),
    ),
    interTokenLatency: histogram(
      "inter_token_latency_seconds",
      "Inter-token latency in seconds",
      model,
      logBucketsFromEnv("DYN_METRICS_ITL", { min: 0.001, max: 2, count: 13 }, env),
    ),
    modelTotalKvBlocks: gauge(
      "model_total_kv_blocks",
      "Total KV cache blocks available for a worker serving the model",
      model,
    ),
    modelMaxNumSeqs: gauge(
      "model_max_num_seqs",
      "Maximum number of sequences for a worker serving the model",
      model,
    ),
    modelMaxNumBatchedTokens: gauge(
      "model_max_num_batched_tokens",
      "Maximum number of batched tokens for a worker serving the model",
      model,
    ),
    modelContextLength: gauge(
      "model_context_length",
      "Maximum context length in tokens for a worker serving the model",
      model,
    ),
    modelKvCacheBlockSize: gauge(
      "model_kv_cache_block_size",
      "KV cache block size in tokens for a worker serving the model",
      model,
    ),
    modelMigrationLimit: gauge(
      "model_migration_limit",
      "Maximum number of request migrations allowed for the model",
      model,
    ),
    modelMigrationTotal: counter(
      "model_migration_total",
      "Total number of request migrations due to worker unavailability",
      ["model", "migration_type"],
    ),
    disaggregatedRequestsTotal: counter(
      "disaggregated_requests_total",
      "Requests of disaggregated models by where their prompt was prefilled: remote, local (conditional) or fallback",
      ["model", "prefill"],
    ),
    modelWorkers: gauge("model_workers", "Number of worker instances currently serving the model", model),
    workerActiveDecodeBlocks: gauge(
      "worker_active_decode_blocks",
      "Active KV cache decode blocks per worker",
      worker,
    ),
    workerActivePrefillTokens: gauge(
      "worker_active_prefill_tokens",
      "Active prefill tokens queued per worker",
      worker,
    ),
    workerLastTimeToFirstToken: gauge(
      "worker_last_time_to_first_token_seconds",
      "Last observed time to first token per worker (seconds)",
      worker,
    ),
    workerLastInputSequenceTokens: gauge(
      "worker_last_input_sequence_tokens",
      "Last observed input sequence tokens per worker",
      worker,
    ),
    workerLastInterTokenLatency: gauge(
      "worker_last_inter_token_latency_seconds",
      "Last observed inter-token latency per worker (seconds)",
      worker,
    ),
    routerQueuePendingRequests: gauge(
      "router_queue_pending_requests",
      "Number of requests pending in the router scheduler queue",
      ["model", "worker_type", "policy_class"],
    ),
  };
}
