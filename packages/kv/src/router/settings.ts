// The KV router's settings as the hosts give them, with Dynamo's defaults. The command-line flags that set them
// (Dynamo's names) live in @kvasir/serving, so this package knows no CLI.
import { DEFAULT_APPROX_MAX_ENTRIES, DEFAULT_APPROX_PRUNE_TARGET_RATIO } from "../indexer/approximate.js";
import { DEFAULT_KV_COST_CONFIG, type KvCostConfig } from "./cost.js";
import type { KvRouterOptions } from "./kv-router.js";
import type { QueuePolicy } from "./queue.js";

export const INDEXER_BACKENDS = ["native", "ts"] as const;
export type IndexerBackend = (typeof INDEXER_BACKENDS)[number];

/** What the router is told, before the app wires ports to it. */
export interface KvRouterSettings {
  cost: KvCostConfig;
  useKvEvents: boolean;
  approxTtlMs: number;
  /** Approximate mode's cap on predicted (block, worker) entries (Dynamo's --router-max-tree-size). */
  approxMaxEntries: number;
  /** Share of the cap eviction goes down to (Dynamo's --router-prune-target-ratio). */
  approxPruneTargetRatio: number;
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
  approxMaxEntries: DEFAULT_APPROX_MAX_ENTRIES,
  approxPruneTargetRatio: DEFAULT_APPROX_PRUNE_TARGET_RATIO,
  queueThreshold: 16,
  queuePolicy: "fcfs",
  maxQueueSize: 1024,
  useRemoteIndexer: false,
  replicaSync: false,
  indexerBackend: "native",
};

/** The KvRouter options the settings decide; the host adds its index, event source and replica sync. */
export function kvRouterOptionsFromSettings(settings: KvRouterSettings, replicaId: string): KvRouterOptions {
  return {
    cost: settings.cost,
    useKvEvents: settings.useKvEvents,
    approxTtlMs: settings.approxTtlMs,
    approxMaxEntries: settings.approxMaxEntries,
    approxPruneTargetRatio: settings.approxPruneTargetRatio,
    queuePolicy: settings.queuePolicy,
    maxQueueSize: settings.maxQueueSize,
    replicaId,
    ...(settings.queueThreshold !== undefined ? { queueThreshold: settings.queueThreshold } : {}),
  };
}
