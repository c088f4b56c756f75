// Public surface of the worker app: start a mocker worker, and its flags for the CLI.

export { workerCommand, workerConfigFromFlags } from "./command.js";
export {
  type KvTransferConfig,
  kvTransferConfigFromFlags,
  kvTransferFlags,
  mockerConfigFromFlags,
  mockerFlags,
  workerCommandFlags,
  workerFlags,
} from "./flags.js";
export { start, type Worker, type WorkerConfig } from "./worker.js";
