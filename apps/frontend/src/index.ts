// Public surface of the frontend app: start it, its CLI command, and the pieces tests and the KV router plug into.

export { type AppConfig, type AppDeps, createApp } from "./app.js";
export { frontendCommand } from "./command.js";
export { type FrontendConfig, frontendConfigFromFlags, frontendFlags } from "./config.js";
export type { WorkerClient } from "./dispatch.js";
export { LoadTracker } from "./load-tracker.js";
export type { ModelCatalog } from "./model-catalog.js";
export { ModelRegistry, type ModelRegistryOptions, type ServedModel } from "./model-registry.js";
export { loadPreprocessor, type Preprocessor } from "./preprocessor.js";
export {
  type RouteDecision,
  type RouteRequest,
  type Router,
  type RouterMode,
  routerModes,
  type WorkerInstance,
} from "./route-request.js";
export { createRouter, directRouter, selectorRouter } from "./routers.js";
export { type Frontend, start } from "./server.js";
