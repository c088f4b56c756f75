// The KV router's flags, with Dynamo's names, shared by `kvasir router` and the frontend's `--router-mode kv`.
// Specs are plain objects shaped like @kvasir/runtime's FlagSpec, so this package stays free of runtime code.
import type { KvCostConfig } from "./cost.js";
import type { KvRouterOptions } from "./kv-router.js";
import { QUEUE_POLICIES, type QueuePolicy } from "./queue.js";

export interface KvRouterFlagSpec {
  name: string;
  type: "string" | "number" | "boolean";
  default?: unknown;
  env?: string;
  help: string;
  choices?: string[];
}

export type IndexerBackend = "native" | "ts";

/** What the router flags say, before the app wires ports to it. */
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

export const kvRouterFlags: KvRouterFlagSpec[] = [
  {
    name: "router-temperature",
    type: "number",
    default: 0,
    env: "DYN_ROUTER_TEMPERATURE",
    help: "Routing randomness: 0 picks the cheapest worker, higher samples by softmax over costs",
  },
  {
    name: "router-kv-overlap-score-credit",
    type: "number",
    default: 1,
    env: "DYN_ROUTER_KV_OVERLAP_SCORE_CREDIT",
    help: "Credit per cached prefix block against prefill load, 0.0 to 1.0",
  },
  {
    name: "router-prefill-load-scale",
    type: "number",
    default: 1,
    env: "DYN_ROUTER_PREFILL_LOAD_SCALE",
    help: "Scale of adjusted prefill load before decode blocks are added",
  },
  {
    name: "router-kv-events",
    type: "boolean",
    default: true,
    env: "DYN_ROUTER_USE_KV_EVENTS",
    help: "Track workers' caches from their KV events; --no-router-kv-events predicts them from routing decisions",
  },
  {
    name: "router-ttl-secs",
    type: "number",
    default: 120,
    env: "DYN_ROUTER_TTL_SECS",
    help: "Seconds a routed prefix counts as cached in approximate mode (--no-router-kv-events)",
  },
  {
    name: "router-queue-threshold",
    type: "number",
    default: 16,
    env: "DYN_ROUTER_QUEUE_THRESHOLD",
    help: "Requests queue while every worker's prefill tokens exceed this fraction of its max_num_batched_tokens (negative disables)",
  },
  {
    name: "router-queue-policy",
    type: "string",
    default: "fcfs",
    choices: [...QUEUE_POLICIES],
    env: "DYN_ROUTER_QUEUE_POLICY",
    help: "Queue order: fcfs (tail TTFT), wspt (average TTFT) or lcfs",
  },
  {
    name: "router-max-queue-size",
    type: "number",
    default: 1024,
    env: "KVASIR_ROUTER_MAX_QUEUE_SIZE",
    help: "Most requests waiting in the router queue; past it requests are shed (503 / RESOURCE_EXHAUSTED)",
  },
  {
    name: "use-remote-indexer",
    type: "boolean",
    default: false,
    env: "DYN_ROUTER_USE_REMOTE_INDEXER",
    help: "Ask the standalone indexer (kvasir indexer) for overlaps instead of keeping an index here",
  },
  {
    name: "router-replica-sync",
    type: "boolean",
    default: false,
    env: "DYN_ROUTER_REPLICA_SYNC",
    help: "Share active-sequence updates with other router replicas over the event plane",
  },
  {
    name: "indexer-backend",
    type: "string",
    default: "native",
    choices: ["native", "ts"],
    env: "KVASIR_INDEXER_BACKEND",
    help: "Embedded index: native (C++ addon; falls back to ts when it is not built) or ts",
  },
];

function num(values: Record<string, unknown>, name: string, fallback: number): number {
  const v = values[name];
  return typeof v === "number" && Number.isFinite(v) ? v : fallback;
}

/** Settings from values parsed with kvRouterFlags; throws on values out of range. */
export function kvRouterSettingsFromFlags(values: Record<string, unknown>): KvRouterSettings {
  const credit = num(values, "router-kv-overlap-score-credit", 1);
  if (credit < 0 || credit > 1)
    throw new Error(`--router-kv-overlap-score-credit must be in [0, 1], got ${credit}`);
  const temperature = num(values, "router-temperature", 0);
  if (temperature < 0) throw new Error(`--router-temperature must not be negative, got ${temperature}`);
  const maxQueueSize = num(values, "router-max-queue-size", 1024);
  if (!Number.isInteger(maxQueueSize) || maxQueueSize < 0) {
    throw new Error(`--router-max-queue-size must be a whole number >= 0, got ${maxQueueSize}`);
  }
  const policy = values["router-queue-policy"] ?? "fcfs";
  const queuePolicy = QUEUE_POLICIES.find((p) => p === policy);
  if (queuePolicy === undefined)
    throw new Error(`--router-queue-policy must be one of ${QUEUE_POLICIES.join(", ")}`);
  const threshold = num(values, "router-queue-threshold", 16);
  const settings: KvRouterSettings = {
    cost: {
      temperature,
      overlapScoreCredit: credit,
      prefillLoadScale: num(values, "router-prefill-load-scale", 1),
    },
    useKvEvents: values["router-kv-events"] !== false,
    approxTtlMs: num(values, "router-ttl-secs", 120) * 1000,
    queuePolicy,
    maxQueueSize,
    useRemoteIndexer: values["use-remote-indexer"] === true,
    replicaSync: values["router-replica-sync"] === true,
    indexerBackend: values["indexer-backend"] === "ts" ? "ts" : "native",
  };
  if (threshold >= 0) settings.queueThreshold = threshold;
  return settings;
}

/** The KvRouter options the flags decide; the host adds its index, event source and replica sync. */
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
