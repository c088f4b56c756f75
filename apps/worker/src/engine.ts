// What the worker needs from an engine, whatever runs behind it: the mocker today, vLLM or SGLang adapters next.
// Token ids in, token id deltas out; KV events and load metrics pushed to a listener; the engine's capacity for the
// Model Deployment Card. The worker service and the worker's wiring talk only to this interface.
import type { KvEvent, LoadMetrics, PerfProfile } from "@kvasir/protocol";
import type { TraceContext } from "@kvasir/telemetry";

/** Sampling and stop conditions of one request. */
export interface EngineParams {
  /** Most tokens to generate; > 0. */
  maxTokens: number;
  /** Stop tokens are ignored until this many tokens are out. */
  minTokens: number;
  stopTokenIds: readonly number[];
  ignoreEos: boolean;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: bigint;
  /** Return each token's logprob and this many alternatives (GenerateResponse.logprobs). */
  logprobs?: number;
  /** Guided decoding (vLLM's structured_outputs): JSON valid against a schema, or any JSON object. */
  structuredOutputs?: { json: Record<string, unknown> } | { jsonObject: true };
  /** Pool the prompt into an embedding (0 dimensions: the model's own) instead of generating. */
  embedding?: { dimensions: number };
}

/** One request as every engine takes it. */
export interface EngineRequest {
  requestId: string;
  tokenIds: readonly number[];
  params: EngineParams;
  /** Higher runs earlier when the engine queues. */
  priority: number;
  /** The data-parallel rank the router chose; the engine picks one when absent. */
  dpRank?: number;
  loraName?: string;
  cacheSalt?: string;
  /**
   * Disaggregation: the transfer parameters a prefill worker returned (vLLM `kv_transfer_params`, SGLang
   * bootstrap fields), for a decode engine to pull the prompt's KV blocks.
   */
  disaggParams?: Record<string, unknown>;
  /** The request's trace context (the worker's server span), for spans an engine opens on its behalf. */
  trace?: TraceContext;
}

export type EngineFinishReason = "stop" | "length" | "cancelled" | "error";

export interface EngineUsage {
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens found in the engine's prefix cache. */
  cachedTokens: number;
}

/** One step of a request's output. */
export interface EngineOutput {
  /** Token ids generated since the previous output. */
  tokenIds: number[];
  /** Set on the last output only. */
  finishReason?: EngineFinishReason;
  usage?: EngineUsage;
  /** Set by prefill engines on the last output: what the decode worker needs to pull the KV blocks. */
  disaggParams?: Record<string, unknown>;
  /** One per token of tokenIds when the request asked for logprobs: its logprob and the top alternatives. */
  logprobs?: { logprob: number; top: { tokenId: number; logprob: number }[] }[];
  /** An embedding request's vector (its last output). */
  embedding?: number[];
}

/** What the engine offers, as the Model Deployment Card and the routers need it. */
export interface EngineCapacity {
  /** Tokens per KV block. */
  blockSize: number;
  /** KV blocks per data-parallel rank. */
  totalKvBlocks: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  dataParallelSize: number;
  /** Longest prompt plus output, in tokens. */
  contextLength: number;
  /** Step timings published in the card, for routing by predicted time to first token. */
  perfProfile?: PerfProfile;
}

/** Where an engine reports its cache changes and load. Implementations must not throw. */
export interface EngineListener {
  /** Cache changes, in order, as Kvasir events stamped with the worker id and dp rank. */
  kvEvents(batch: KvEvent[]): void;
  /** The load of each dp rank, after every change worth telling routers about. */
  loadMetrics(ranks: LoadMetrics[]): void;
  /**
   * An engine process that can die (vLLM, SGLang) went down or came back; `final` when it will not come back.
   * The worker deregisters while its engine is down.
   */
  availability?(available: boolean, reason: string, final: boolean): void;
}

/** The engine refuses the request as it stands (maps to Connect's InvalidArgument). */
export class InvalidEngineRequest extends Error {
  override readonly name = "InvalidEngineRequest";
}

/** The engine cannot take the request now, though another worker may (maps to Connect's ResourceExhausted). */
export class EngineOverloaded extends Error {
  override readonly name = "EngineOverloaded";
}

export interface Engine {
  readonly capacity: EngineCapacity;
  /** Requests the engine holds now (waiting or running). */
  readonly activeRequests: number;
  /**
   * Streams the request's outputs. Throws InvalidEngineRequest (on the first `next()`) when the engine refuses
   * it. Aborting `signal`, or leaving the stream early, aborts the request and frees its blocks.
   */
  generate(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineOutput>;
  /** Aborts a request; a no-op when the engine does not hold it. */
  abort(requestId: string): void;
  /** Sends KV events and load metrics to `listener` from now on; returns the function that stops that. */
  subscribe(listener: EngineListener): () => void;
  /** The load of each dp rank now. */
  loadMetrics(): LoadMetrics[];
  /** Aborts every request and stops the engine; resolves once nothing runs. */
  close(): Promise<void>;
  /**
   * The engine's own Prometheus metrics (vLLM's `vllm:*`, SGLang's `sglang:*`) as last scraped, served on the
   * worker's /metrics beside its own as Dynamo's workers do; absent for engines without any.
   */
  metricsText?(): string;
}
