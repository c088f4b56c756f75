// Shared wire types stored in discovery (DESIGN §2). JSON, so every backend (memory, file, NATS KV) holds them as is.
import { type PerfProfile, parsePerfProfile } from "./perf-profile.js";

export type ModelType = "chat" | "completions" | "prefill" | "embedding";

/** Model Deployment Card: what a frontend needs to serve a model, published by each worker under `v1/mdc/…`. */
export interface ModelDeploymentCard {
  /** Served model name, as clients send it in `model`. */
  name: string;
  /** Further names the same deployment answers to (vLLM's `--served-model-name a b`). */
  aliases: string[];
  /** A local directory holding `tokenizer.json` and `tokenizer_config.json`. */
  tokenizerPath: string;
  /** Chat template override; when absent the one in `tokenizer_config.json` applies. */
  chatTemplate?: string;
  contextLength: number;
  kvCacheBlockSize: number;
  modelTypes: ModelType[];
  runtimeConfig: {
    totalKvBlocks: number;
    maxNumSeqs: number;
    maxNumBatchedTokens: number;
    dataParallelSize: number;
  };
  /** The engine's measured speed, for routing by predicted time to first token (`--router-cost-model ttft`). */
  perfProfile?: PerfProfile;
}

/** Value of a `v1/instances/…` discovery entry. */
export interface InstanceRecord {
  /** Base URL of the instance's Connect server (or HTTP API), e.g. `http://127.0.0.1:41234`. */
  address: string;
  /** Connect over cleartext HTTP/2 or TLS, or plain HTTP (the frontend's API). */
  transport: "connect-h2c" | "connect-h2" | "http";
  metadata: Record<string, string>;
}

const MODEL_TYPES: readonly ModelType[] = ["chat", "completions", "prefill", "embedding"];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
const positiveInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v > 0;
const count = (v: unknown, fallback: number): number =>
  typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : fallback;

/**
 * The one check of a card read from discovery (written by another process, possibly another version): the fields
 * routing needs must be there and sane, optional ones get their defaults. Undefined when the value is no card.
 */
export function parseModelDeploymentCard(value: unknown): ModelDeploymentCard | undefined {
  if (!isObject(value)) return undefined;
  const { name, tokenizerPath, kvCacheBlockSize, runtimeConfig } = value;
  if (typeof name !== "string" || name === "") return undefined;
  if (!positiveInt(kvCacheBlockSize)) return undefined;
  const runtime = isObject(runtimeConfig) ? runtimeConfig : {};
  const aliases = Array.isArray(value.aliases)
    ? value.aliases.filter((a): a is string => typeof a === "string" && a !== "")
    : [];
  const modelTypes = Array.isArray(value.modelTypes)
    ? value.modelTypes.filter((t): t is ModelType => MODEL_TYPES.includes(t))
    : [];
  const card: ModelDeploymentCard = {
    name,
    aliases,
    tokenizerPath: typeof tokenizerPath === "string" ? tokenizerPath : "",
    contextLength: count(value.contextLength, 0),
    kvCacheBlockSize,
    modelTypes: modelTypes.length > 0 ? modelTypes : ["chat", "completions"],
    runtimeConfig: {
      totalKvBlocks: count(runtime.totalKvBlocks, 0),
      maxNumSeqs: count(runtime.maxNumSeqs, 0),
      maxNumBatchedTokens: count(runtime.maxNumBatchedTokens, 0),
      dataParallelSize: Math.max(1, Math.floor(count(runtime.dataParallelSize, 1))),
    },
  };
  if (typeof value.chatTemplate === "string") card.chatTemplate = value.chatTemplate;
  const perfProfile = parseCardPerfProfile(value.perfProfile);
  if (perfProfile !== undefined) card.perfProfile = perfProfile;
  return card;
}

/** A card's perf profile, or undefined when absent or malformed (the card stays usable without it). */
export function parseCardPerfProfile(value: unknown): PerfProfile | undefined {
  if (value === undefined) return undefined;
  try {
    return parsePerfProfile(value);
  } catch {
    return undefined;
  }
}

/** The check of an instance record read from discovery. */
export function parseInstanceRecord(value: unknown): InstanceRecord | undefined {
  if (!isObject(value) || typeof value.address !== "string" || value.address === "") return undefined;
  const metadata: Record<string, string> = {};
  if (isObject(value.metadata)) {
    for (const [k, v] of Object.entries(value.metadata)) if (typeof v === "string") metadata[k] = v;
  }
  return {
    address: value.address,
    transport:
      value.transport === "connect-h2" || value.transport === "http" ? value.transport : "connect-h2c",
    metadata,
  };
}
