// Public surface of @kvasir/kv.

// vLLM / SGLang ZMQ event decoding.
export { EngineEventDecoder, type EngineEventDecoderOptions } from "./decode/decoder.js";
export { DROP_REASONS, type DropReason } from "./decode/engine.js";
// Normalized KV events and their kvasir.events.v1 form.
export {
  type ClearedData,
  decodeKvEventBatch,
  encodeKvEventBatch,
  fromProtoKvEvent,
  type KvCacheEvent,
  type KvEventData,
  type RemovedData,
  type StoredData,
  storedFromTokens,
  toProtoKvEvent,
  toProtoKvEventBatch,
} from "./events.js";
// Block hashing (docs/kv-hashing.md).
export {
  computeBlockHashes,
  computeLocalHashes,
  computeSeqHashes,
  DEFAULT_KV_BLOCK_SIZE,
  type HashOptions,
  hashSeed,
  KV_HASH_SEED,
  nextSeqHash,
  xxh3_64,
} from "./hash.js";

// Indexers.
export { ApproxIndexer, type ApproxIndexerOptions } from "./indexer/approximate.js";
export { RadixIndexer, type RadixIndexerCounters, type RadixSnapshot } from "./indexer/radix.js";
export type { KvIndexer, WorkerBlocks, WorkerMatch } from "./indexer/types.js";

// Routing: cost model, selectors, active sequences, queue.
export {
  ActiveSequences,
  type ActiveSequencesOptions,
  type ActiveSequenceUpdate,
  type AddRequestInput,
  parseActiveSequenceUpdate,
} from "./router/active.js";
export {
  COST_MODELS,
  type CostModel,
  DEFAULT_KV_COST_CONFIG,
  type KvCostConfig,
  pickByCost,
  ttftEstimate,
  type WorkerCost,
  workerCosts,
} from "./router/cost.js";
export {
  type KvEventSource,
  type KvRouteDecision,
  type KvRouteRequest,
  KvRouter,
  type KvRouterOptions,
  type KvRouterWorker,
  NoWorkersError,
  QueueFullError,
  type RemoteFindMatches,
  type ReplicaSyncPort,
  type RouteOptions,
  RouterClosedError,
  type Unsubscribe,
} from "./router/kv-router.js";
export { prefillMs, prefillSteps } from "./router/perf-profile.js";
export {
  activeSequencesSubject,
  kvEventSourceOver,
  type PubSubPlane,
  replicaSyncOver,
} from "./router/ports.js";
export {
  allWorkersBusy,
  type EnqueueOptions,
  QUEUE_POLICIES,
  type QueuePolicy,
  RequestQueue,
  type RequestQueueOptions,
} from "./router/queue.js";
export {
  createSelector,
  KvSelector,
  type KvSelectorOptions,
  LeastLoadedSelector,
  RandomSelector,
  RoundRobinSelector,
  type RouterMode,
} from "./router/selectors.js";
export {
  DEFAULT_KV_ROUTER_SETTINGS,
  INDEXER_BACKENDS,
  type IndexerBackend,
  type KvRouterSettings,
  kvRouterOptionsFromSettings,
} from "./router/settings.js";
export {
  EMPTY_LOAD,
  type Rng,
  type SelectionRequest,
  type WorkerCandidate,
  type WorkerLoad,
  type WorkerSelection,
  type WorkerSelector,
} from "./router/types.js";
