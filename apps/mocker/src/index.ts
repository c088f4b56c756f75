// Public surface of the engine simulator (`kvasir mocker`): the mocker as a vLLM or SGLang server process.
export { mockerCommand } from "./command.js";
export {
  DEFAULT_EOS_TOKEN_ID,
  DEFAULT_MODEL,
  type SimulatorConfig,
  simulatorConfigFromFlags,
} from "./config.js";
export { normalizeEngineArgv } from "./engine-argv.js";
export { EngineDriver } from "./engine-driver.js";
export { PROTOCOLS, type Protocol, simulatorFlags } from "./flags.js";
export { SIMULATED_SGLANG_VERSION } from "./sglang-api.js";
export { type EngineSimulator, start } from "./simulator.js";
export { SIMULATED_VLLM_VERSION } from "./vllm-api.js";
