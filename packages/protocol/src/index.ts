// Public surface of @kvasir/protocol: the generated messages and services (src/gen, produced by `buf generate`).
export * from "./gen/kvasir/worker/v1/worker_pb.js";
export * from "./gen/kvasir/events/v1/events_pb.js";
export * from "./gen/kvasir/indexer/v1/indexer_pb.js";
// The router's Generate wraps the worker's; its message names are prefixed to keep one flat namespace.
export {
  type BestWorkerRequest,
  BestWorkerRequestSchema,
  type BestWorkerResponse,
  BestWorkerResponseSchema,
  type PotentialLoadsRequest,
  PotentialLoadsRequestSchema,
  type PotentialLoad,
  PotentialLoadSchema,
  type PotentialLoadsResponse,
  PotentialLoadsResponseSchema,
  type GenerateRequest as RouterGenerateRequest,
  GenerateRequestSchema as RouterGenerateRequestSchema,
  type GenerateResponse as RouterGenerateResponse,
  GenerateResponseSchema as RouterGenerateResponseSchema,
  type MarkPrefillCompleteRequest,
  MarkPrefillCompleteRequestSchema,
  type MarkPrefillCompleteResponse,
  MarkPrefillCompleteResponseSchema,
  type FreeRequest,
  FreeRequestSchema,
  type FreeResponse,
  FreeResponseSchema,
  RouterService,
} from "./gen/kvasir/router/v1/router_pb.js";
export { create, fromBinary, toBinary, fromJson, toJson } from "@bufbuild/protobuf";
export type { InstanceRecord, ModelDeploymentCard, ModelType } from "./mdc.js";
