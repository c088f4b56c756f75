// The KV router's flags with Dynamo's names, shared by `kvasir router` and the frontend's `--router-mode kv`, and
// the Dynamo router flags both refuse.
import {
  COST_MODELS,
  DEFAULT_KV_ROUTER_SETTINGS,
  INDEXER_BACKENDS,
  type KvRouterSettings,
  QUEUE_POLICIES,
} from "@kvasir/kv";
import { defineFlags, type FlagValues } from "@kvasir/runtime";

const D = DEFAULT_KV_ROUTER_SETTINGS;

export const kvRouterFlags = defineFlags(
  {
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
    "router-cost-model": {
      type: "string",
      default: D.cost.model,
      choices: COST_MODELS,
      env: "KVASIR_ROUTER_COST_MODEL",
      help: "Worker cost: linear (Dynamo's, in blocks) or ttft (ms: predicted time to first token plus the prefill it puts ahead of later requests, from the workers' perf profiles)",
      differs:
        "Kvasir only; Dynamo's --router-prefill-load-model aic is the nearest (an AIC model of prompt-side load)",
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
    "router-max-tree-size": {
      type: "number",
      default: D.approxMaxEntries,
      integer: true,
      positive: true,
      env: "DYN_ROUTER_MAX_TREE_SIZE",
      help: "Most (block, worker) entries approximate mode holds; past it the least recently routed are evicted",
      dynamo: true,
    },
    "router-prune-target-ratio": {
      type: "number",
      default: D.approxPruneTargetRatio,
      min: 0,
      max: 1,
      env: "DYN_ROUTER_PRUNE_TARGET_RATIO",
      help: "Share of --router-max-tree-size that eviction in approximate mode goes down to",
      dynamo: true,
    },
    "router-queue-threshold": {
      type: "number",
      default: D.queueThreshold ?? -1,
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
  },
  [
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
  ],
);

/** The Dynamo router flags Kvasir's routers refuse, with what to use instead. */
export const kvRouterRefusedFlags = kvRouterFlags.refused;

/** Settings from values parsed with (at least) kvRouterFlags; absent flags take Dynamo's defaults. */
export function kvRouterSettingsFromFlags(values: FlagValues): KvRouterSettings {
  const flags = kvRouterFlags.read(values);
  const threshold = flags["router-queue-threshold"];
  return {
    cost: {
      model: flags["router-cost-model"],
      temperature: flags["router-temperature"],
      overlapScoreCredit: flags["router-kv-overlap-score-credit"],
      prefillLoadScale: flags["router-prefill-load-scale"],
    },
    useKvEvents: flags["router-kv-events"],
    approxTtlMs: flags["router-ttl-secs"] * 1000,
    approxMaxEntries: flags["router-max-tree-size"],
    approxPruneTargetRatio: flags["router-prune-target-ratio"],
    queuePolicy: flags["router-queue-policy"],
    maxQueueSize: flags["router-max-queue-size"],
    useRemoteIndexer: flags["use-remote-indexer"],
    replicaSync: flags["router-replica-sync"],
    indexerBackend: flags["indexer-backend"],
    ...(threshold >= 0 ? { queueThreshold: threshold } : {}),
  };
}

/** Disaggregated serving's flags, shared by the frontend and `kvasir router` (whose Generate serves it too). */
export const disaggregationFlags = defineFlags({
  "max-local-prefill-length": {
    type: "number",
    default: 0,
    integer: true,
    min: 0,
    env: "DYN_MAX_LOCAL_PREFILL_LENGTH",
    help: "Conditional disaggregation: prefill on the decode worker when the prompt's part not cached there is at most this many tokens (0: every prompt goes to a prefill worker)",
    dynamo: "max_local_prefill_length (Dynamo's disaggregated router config)",
  },
});
