// Public surface of @kvasir/mocker: the simulated engine, its config and request/output shapes.
export {
  DEFAULT_MOCKER_CONFIG,
  DEFAULT_TIMING,
  type KvModelShape,
  kvBytesPerToken,
  type MockerConfig,
  type MockerConfigInput,
  resolveMockerConfig,
  SIMULATED_MODEL_SHAPE,
  type TimingCoefficients,
} from "./config.js";
export { mockEmbedding } from "./embedding.js";
export { MockEngine, type MockEngineOptions, type StepResult } from "./engine.js";
export { type GuidedConstraint, guidedJson } from "./guided.js";
export { CANDIDATES, requestSeed, type TokenLogprob } from "./sampler.js";
export type { StepOutput } from "./scheduler.js";
export type { EngineFinishReason, EngineRequest } from "./sequence.js";
export { createStepTimer, type StepTimer, type StepWork } from "./timing.js";
