// Public surface of the worker app: start a mocker worker, and its flags for the CLI.

export { workerCommand, workerConfigFromFlags } from "./command.js";
export { mockerConfigFromFlags, mockerFlags, workerCommandFlags, workerFlags } from "./flags.js";
export { start, type Worker, type WorkerConfig } from "./worker.js";
