// Public surface of @kvasir/protocol: the generated messages and services (src/gen, produced by `buf generate`).

export type { MessageInitShape } from "@bufbuild/protobuf";
export { create, fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
export * from "./gen/kvasir/events/v1/events_pb.js";
export * from "./gen/kvasir/indexer/v1/indexer_pb.js";
export * from "./gen/kvasir/model_express/v1/model_express_pb.js";
// The router's Generate wraps the worker's; its message names are prefixed to keep one flat namespace.
export {
  type BestWorkerRequest,
  BestWorkerRequestSchema,
  type BestWorkerResponse,
  BestWorkerResponseSchema,
  type FreeRequest,
  FreeRequestSchema,
  type FreeResponse,
  FreeResponseSchema,
  type GenerateRequest as RouterGenerateRequest,
  GenerateRequestSchema as RouterGenerateRequestSchema,
  type GenerateResponse as RouterGenerateResponse,
  GenerateResponseSchema as RouterGenerateResponseSchema,
  type MarkPrefillCompleteRequest,
  MarkPrefillCompleteRequestSchema,
  type MarkPrefillCompleteResponse,
  MarkPrefillCompleteResponseSchema,
  type PotentialLoad,
  PotentialLoadSchema,
  type PotentialLoadsRequest,
  PotentialLoadsRequestSchema,
  type PotentialLoadsResponse,
  PotentialLoadsResponseSchema,
  RouterService,
} from "./gen/kvasir/router/v1/router_pb.js";
// The snapshot agent's request names are generic (Get, List, ...); prefixed here for the same reason.
export {
  type CheckpointIdentity,
  CheckpointIdentitySchema,
  CheckpointPhase,
  type CheckpointRequest,
  CheckpointRequestSchema,
  type CheckpointResponse,
  CheckpointResponseSchema,
  type CheckpointStatus,
  CheckpointStatusSchema,
  type DeleteRequest as SnapshotDeleteRequest,
  type GetRequest as SnapshotGetRequest,
  type ListRequest as SnapshotListRequest,
  type RestoreRequest,
  RestoreRequestSchema,
  type RestoreResponse,
  RestoreResponseSchema,
  SnapshotAgentService,
  type WatchRequest as SnapshotWatchRequest,
} from "./gen/kvasir/snapshot/v1/snapshot_pb.js";
export * from "./gen/kvasir/worker/v1/worker_pb.js";
export {
  type InstanceRecord,
  type ModelDeploymentCard,
  type ModelType,
  parseCardPerfProfile,
  parseInstanceRecord,
  parseModelDeploymentCard,
} from "./mdc.js";
export {
  decodeStepMs,
  interpolate1d,
  interpolate2d,
  type PerfProfile,
  type PerfProfileFile,
  parsePerfProfile,
  perfProfileFile,
  prefillStepMs,
  speedUpPerfProfile,
} from "./perf-profile.js";
