// Public surface of @kvasir/serving: the I/O glue every serving app shares (Dynamo's lib/llm): worker pools, the
// one KvRouter host, the request path as stages, and the engine-parameter mapping to and from the protocol.

export {
  type EngineFinish,
  type EngineOutput,
  type EngineParams,
  type EngineUsage,
  fromWorkerRequest,
  type RouteDecision,
  type ServingRequest,
  type StructuredOutputs,
  type TokenLogprob,
  toWorkerRequest,
  toWorkerResponse,
} from "./engine-params.js";
export {
  isRequestError,
  noWorker,
  overloaded,
  routingError,
  ServingError,
  type ServingErrorCode,
  toConnectError,
} from "./errors.js";
export {
  disaggregationFlags,
  kvRouterFlags,
  kvRouterRefusedFlags,
  kvRouterSettingsFromFlags,
} from "./flags.js";
export { hostKvRouter, type KvRouterHost, type KvRouterHostDeps } from "./kv-router-host.js";
export { callWorker, type WorkerClient } from "./pipeline/call-worker.js";
export {
  type DisaggregationOptions,
  disaggregate,
  prefillRequest,
  REMOTE_DECODE_PARAMS,
} from "./pipeline/disaggregate.js";
export { continuation, migrate } from "./pipeline/migrate.js";
export { retry } from "./pipeline/retry.js";
export { route } from "./pipeline/route.js";
export {
  type ServingPipelineOptions,
  servingPipeline,
} from "./pipeline/serving-pipeline.js";
export { shed } from "./pipeline/shed.js";
export {
  type Attempt,
  type DisaggregationOutcome,
  type Handler,
  type MoveInfo,
  type Phase,
  pipeline,
  type RoutingTarget,
  type ServingContext,
  type Stage,
  servingContext,
  type TargetFor,
} from "./pipeline/types.js";
export { followRemoteIndexer, type RemoteIndexer } from "./remote-indexer.js";
export { remoteRouter } from "./remote-router.js";
export { createRouting, type Routing, type RoutingOptions, type RoutingPlanes } from "./routing.js";
export {
  type BusyThresholds,
  type PoolChange,
  type PoolWorker,
  WorkerPool,
  type WorkerPoolOptions,
} from "./worker-pool.js";
export {
  openWorkerPools,
  WORKER_COMPONENTS,
  type WorkerComponent,
  type WorkerPools,
  type WorkerPoolsOptions,
} from "./worker-pools.js";
export {
  directRouter,
  type RouteContext,
  type RouterMode,
  routerModes,
  selectorRouter,
  type WorkerRouter,
} from "./worker-router.js";
