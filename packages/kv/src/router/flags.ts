// The KV router's settings, and its flags with Dynamo's names, shared by `kvasir router` and the frontend's
// `--router-mode kv`. The flag definitions are plain data shaped like @kvasir/runtime's FlagDefs (the apps type
// them with its defineFlags), so this package stays free of runtime code.
import { DEFAULT_KV_COST_CONFIG, type KvCostConfig } from "./cost.js";
import type { KvRouterOptions } from "./kv-router.js";
import { QUEUE_POLICIES, type QueuePolicy } from "./queue.js";

export const INDEXER_BACKENDS = ["native", "ts"] as const;
export type IndexerBackend = (typeof INDEXER_BACKENDS)[number];

/** What the router is told, before the app wires ports to it. */
export interface KvRouterSettings {
  cost: KvCostConfig;
  useKvEvents: boolean;
  approxTtlMs: number;
  /** Undefined disables queueing. */
  queueThreshold?: number;
  queuePolicy: QueuePolicy;
  maxQueueSize: number;
  useRemoteIndexer: boolean;
  replicaSync: boolean;
  indexerBackend: IndexerBackend;
}

/** Dynamo's router defaults. */
export const DEFAULT_KV_ROUTER_SETTINGS: Readonly<KvRouterSettings> = {
  cost: DEFAULT_KV_COST_CONFIG,
  useKvEvents: true,
  approxTtlMs: 120_000,
  queueThreshold: 16,
  queuePolicy: "fcfs",
  maxQueueSize: 1024,
  useRemoteIndexer: false,
  replicaSync: false,
  indexerBackend: "native",
};

const D = DEFAULT_KV_ROUTER_SETTINGS;

export const kvRouterFlags = {
  "router-temperature": {
    type: "number",
    default: D.cost.temperature,
    min: 0,
    env: "DYN_ROUTER_TEMPERATURE",
    help: "Routing randomness: 0 picks the cheapest worker, higher samples by softmax over costs",
    dynamo: true,
  },
  "router-kv-overlap-score-credit": {
    type: "number",
    default: D.cost.overlapScoreCredit,
    min: 0,
    max: 1,
    env: "DYN_ROUTER_KV_OVERLAP_SCORE_CREDIT",
    help: "Credit per cached prefix block against prefill load, 0.0 to 1.0",
    dynamo: true,
  },
  "router-prefill-load-scale": {
    type: "number",
    default: D.cost.prefillLoadScale,
    min: 0,
    env: "DYN_ROUTER_PREFILL_LOAD_SCALE",
    help: "Scale of adjusted prefill load before decode blocks are added",
    dynamo: true,
  },
  "router-kv-events": {
    type: "boolean",
    default: D.useKvEvents,
    env: "DYN_ROUTER_USE_KV_EVENTS",
    help: "Track workers' caches from their KV events; --no-router-kv-events predicts them from routing decisions",
    dynamo: true,
  },
  "router-ttl-secs": {
    type: "number",
    default: D.approxTtlMs / 1000,
    positive: true,
    env: "DYN_ROUTER_TTL_SECS",
    help: "Seconds a routed prefix counts as cached in approximate mode (--no-router-kv-events)",
    dynamo: true,
  },
  "router-queue-threshold": {
    type: "number",
    default: 16,
    env: "DYN_ROUTER_QUEUE_THRESHOLD",
    help: "Requests queue while every worker's prefill tokens exceed this fraction of its max_num_batched_tokens (negative disables)",
    dynamo: true,
  },
  "router-queue-policy": {
    type: "string",
    default: D.queuePolicy,
    choices: QUEUE_POLICIES,
    env: "DYN_ROUTER_QUEUE_POLICY",
    help: "Queue order: fcfs (tail TTFT), wspt (average TTFT) or lcfs",
    dynamo: true,
  },
  "router-max-queue-size": {
    type: "number",
    default: D.maxQueueSize,
    integer: true,
    min: 0,
    env: "KVASIR_ROUTER_MAX_QUEUE_SIZE",
    help: "Most requests waiting in the router queue; past it requests are shed (503 / RESOURCE_EXHAUSTED)",
  },
  "use-remote-indexer": {
    type: "boolean",
    default: D.useRemoteIndexer,
    env: ["DYN_USE_REMOTE_INDEXER", "DYN_ROUTER_USE_REMOTE_INDEXER"],
    help: "Ask the standalone indexer (kvasir indexer) for overlaps instead of keeping an index here",
    dynamo: true,
    differs:
      "Queries a standalone `kvasir indexer` found in discovery; Dynamo queries an indexer served on the worker component (`--serve-indexer`)",
  },
  "router-replica-sync": {
    type: "boolean",
    default: D.replicaSync,
    env: "DYN_ROUTER_REPLICA_SYNC",
    help: "Share active-sequence updates with other router replicas over the event plane",
    dynamo: true,
  },
  "indexer-backend": {
    type: "string",
    default: D.indexerBackend,
    choices: INDEXER_BACKENDS,
    env: "KVASIR_INDEXER_BACKEND",
    help: "Embedded index: native (C++ addon; falls back to ts when it is not built) or ts",
  },
} as const;

/** Dynamo router flags Kvasir's routers do not take, with what to use instead (shaped like runtime's RefusedFlag). */
export const kvRouterRefusedFlags = [
  {
    name: "load-aware",
    env: ["DYN_ROUTER_LOAD_AWARE"],
    accepts: "off",
    message:
      "to route by active load alone use --router-mode kv --router-kv-overlap-score-credit 0 (or --router-mode least-loaded)",
  },
  {
    name: "router-track-prefill-tokens",
    accepts: "on",
    message: "Kvasir's router always counts prompt-side (prefill) load; it cannot be turned off",
  },
  {
    name: "router-prefill-load-model",
    message:
      "Kvasir has no AIC prefill load model; prefill load is counted in tokens (not covered by an issue yet)",
  },
  {
    name: "serve-indexer",
    message: "run a standalone `kvasir indexer` and give the routers --use-remote-indexer",
  },
  {
    name: "router-durable-kv-events",
    message: "use `kvasir indexer --kv-events-jetstream` and give the routers --use-remote-indexer",
  },
] as const;

type KvRouterFlagValue<D> = D extends { type: "number" }
  ? number
  : D extends { type: "boolean" }
    ? boolean
    : string;
/** Values of kvRouterFlags as parsed, derived from the definitions so a renamed flag fails to compile here. */
export type KvRouterFlagValues = {
  -readonly [K in keyof typeof kvRouterFlags]?: KvRouterFlagValue<(typeof kvRouterFlags)[K]>;
};

/** Settings from values parsed with kvRouterFlags; throws on values out of range. */
export function kvRouterSettingsFromFlags(values: KvRouterFlagValues): KvRouterSettings {
  const credit = values["router-kv-overlap-score-credit"] ?? D.cost.overlapScoreCredit;
  if (!(credit >= 0 && credit <= 1))
    throw new RangeError(`--router-kv-overlap-score-credit must be in [0, 1], got ${credit}`);
  const temperature = values["router-temperature"] ?? D.cost.temperature;
  if (!(temperature >= 0))
    throw new RangeError(`--router-temperature must not be negative, got ${temperature}`);
  const maxQueueSize = values["router-max-queue-size"] ?? D.maxQueueSize;
  if (!Number.isInteger(maxQueueSize) || maxQueueSize < 0) {
    throw new RangeError(`--router-max-queue-size must be a whole number >= 0, got ${maxQueueSize}`);
  }
  const policy = values["router-queue-policy"] ?? D.queuePolicy;
  const queuePolicy = QUEUE_POLICIES.find((p) => p === policy);
  if (queuePolicy === undefined)
    throw new RangeError(
      `--router-queue-policy must be one of ${QUEUE_POLICIES.join(", ")}; got '${policy}'`,
    );
  const backend = values["indexer-backend"] ?? D.indexerBackend;
  const indexerBackend = INDEXER_BACKENDS.find((b) => b === backend);
  if (indexerBackend === undefined)
    throw new RangeError(`--indexer-backend must be one of ${INDEXER_BACKENDS.join(", ")}; got '${backend}'`);
  const threshold = values["router-queue-threshold"] ?? 16;
  const settings: KvRouterSettings = {
    cost: {
      temperature,
      overlapScoreCredit: credit,
      prefillLoadScale: values["router-prefill-load-scale"] ?? D.cost.prefillLoadScale,
    },
    useKvEvents: values["router-kv-events"] ?? D.useKvEvents,
    approxTtlMs: (values["router-ttl-secs"] ?? D.approxTtlMs / 1000) * 1000,
    queuePolicy,
    maxQueueSize,
    useRemoteIndexer: values["use-remote-indexer"] ?? D.useRemoteIndexer,
    replicaSync: values["router-replica-sync"] ?? D.replicaSync,
    indexerBackend,
  };
  if (threshold >= 0) settings.queueThreshold = threshold;
  return settings;
}

/** The KvRouter options the settings decide; the host adds its index, event source and replica sync. */
export function kvRouterOptionsFromSettings(settings: KvRouterSettings, replicaId: string): KvRouterOptions {
  return {
    cost: settings.cost,
    useKvEvents: settings.useKvEvents,
    approxTtlMs: settings.approxTtlMs,
    queuePolicy: settings.queuePolicy,
    maxQueueSize: settings.maxQueueSize,
    replicaId,
    ...(settings.queueThreshold !== undefined ? { queueThreshold: settings.queueThreshold } : {}),
  };
}
