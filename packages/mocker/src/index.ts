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
export { MockEngine, type MockEngineOptions, type StepResult } from "./engine.js";
export { type PerfProfile, parsePerfProfile } from "./perf-profile.js";
export type { StepOutput } from "./scheduler.js";
export type { EngineFinishReason, EngineRequest } from "./sequence.js";
