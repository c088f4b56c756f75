// What differs between engines behind the HTTP adapter: how a request is sent and its stream read, where health,
// metrics and the model's description are, and what the engine's command line needs added.
import type { EngineProtocol, WireTokenLogprob } from "@kvasir/engine-wire";
import {
  type EngineCapacity,
  type EngineOutput,
  type EngineParams,
  type EngineRequest,
  InvalidEngineRequest,
} from "../../engine.js";
import type { EngineHttpClient } from "./http-client.js";

/** The engine's settings the adapter read off its command line (or was told, for an attached engine). */
export interface EngineSettings {
  dataParallelSize: number;
  /** Tokens per KV block asked on the command line; the engine's own report wins once it runs. */
  blockSize?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  contextLength?: number;
  /** The engine orders its queue by request priority (vLLM `--scheduling-policy priority`, SGLang `--enable-priority-scheduling`). */
  priorityScheduling: boolean;
  /** SGLang prefill servers: the bootstrap port decode servers pull from. */
  bootstrapPort?: number;
  /** The engine's `--api-key`: sent as a bearer token, as its clients must. */
  apiKey?: string;
}

export interface EngineDescription {
  /** The name the engine serves its base model under (the `model` of vLLM's requests). */
  servedModel: string;
  capacity: EngineCapacity;
}

export interface GenerateContext {
  client: EngineHttpClient;
  /** Served model name, for engines that route by it (vLLM). */
  servedModel: string;
  settings: EngineSettings;
  /** The host decode workers reach this engine's bootstrap server on (SGLang prefill). */
  advertiseHost: string;
  /** Sent with every request of this generation: the W3C trace context (vLLM's OTLP tracing continues it). */
  headers: Record<string, string>;
}

export interface HttpProtocol {
  readonly name: EngineProtocol;
  readonly healthPath: string;
  readonly metricsPath: string;
  /** Drops the engine's prefix cache (vLLM's /reset_prefix_cache, SGLang's /flush_cache). */
  readonly resetPrefixCachePath: string;
  /** Reads the served model and the capacity of a ready engine. */
  describe(client: EngineHttpClient, settings: EngineSettings): Promise<EngineDescription>;
  /** Streams one request's outputs; leaving the iteration early closes the engine's stream. */
  generate(
    request: EngineRequest,
    signal: AbortSignal,
    context: GenerateContext,
  ): AsyncIterable<EngineOutput>;
  /** Tells the engine to drop a request, beyond closing its stream (SGLang's /abort_request). */
  abort?(client: EngineHttpClient, requestId: string): Promise<void>;
}

/** Defaults of the capacity fields an engine does not report, as vLLM's and SGLang's own defaults are. */
export function capacityOf(
  settings: EngineSettings,
  reported: Partial<EngineCapacity>,
  defaults: EngineCapacity,
): EngineCapacity {
  return {
    blockSize: reported.blockSize ?? settings.blockSize ?? defaults.blockSize,
    totalKvBlocks: reported.totalKvBlocks ?? defaults.totalKvBlocks,
    maxNumSeqs: reported.maxNumSeqs ?? settings.maxNumSeqs ?? defaults.maxNumSeqs,
    maxNumBatchedTokens:
      reported.maxNumBatchedTokens ?? settings.maxNumBatchedTokens ?? defaults.maxNumBatchedTokens,
    dataParallelSize: settings.dataParallelSize,
    contextLength: reported.contextLength ?? settings.contextLength ?? defaults.contextLength,
  };
}

/** A finite number, or undefined. */
export function numberOr(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** What the adapters do not relay yet, refused in the caller's error shape rather than silently dropped. */
export function checkSupported(params: EngineParams, engine: EngineProtocol): void {
  if (params.embedding !== undefined)
    throw new InvalidEngineRequest(`embeddings are not served through the ${engine} adapter yet`);
}

/** Logprobs read off an engine's wire, as the worker's output carries them (the token ids travel beside). */
export function outputLogprobs(
  entries: readonly WireTokenLogprob[] | undefined,
): EngineOutput["logprobs"] | undefined {
  return entries?.map(({ logprob, top }) => ({ logprob, top }));
}
