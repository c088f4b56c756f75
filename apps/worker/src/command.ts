import { existsSync, readFileSync } from "node:fs";
import { defaultModelDir } from "@kvasir/llm";
import { type PerfProfile, parsePerfProfile } from "@kvasir/protocol";
import {
  advertiseHostFromFlags,
  type Command,
  FlagError,
  type FlagValues,
  runtimeConfigFromFlags,
  type Service,
  systemPortFromFlags,
} from "@kvasir/runtime";
import { engineModelOf, splitCommand } from "./engines/http-engine/command-line.js";
import {
  DEFAULT_KV_BLOCK_SIZE,
  DEFAULT_MODEL_NAME,
  httpBackendFromFlags,
  kvTransferConfigFromFlags,
  mockerConfigFromFlags,
  workerCommandFlags,
  zmqPublisherFromFlags,
} from "./flags.js";
import { modelFilesFromFlags } from "./model-files.js";
import { runCheckpointJob } from "./snapshot/checkpoint-job.js";
import { snapshotConfigFromFlags } from "./snapshot/flags.js";
import { start, type WorkerConfig } from "./worker.js";

/** The perf profile's JSON, read once here so that a bad file is a usage error before anything starts. */
function readProfile(path: string | undefined): PerfProfile | undefined {
  if (!path) return undefined;
  try {
    return parsePerfProfile(JSON.parse(readFileSync(path, "utf8")));
  } catch (error) {
    throw new FlagError(`--perf-profile ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * The model directory: the given path, or the bundled tokenizer when none is given or when the path is the bundled
 * model's Hugging Face id (as Dynamo's quickstart passes it). Other ids need a download Kvasir does not do yet.
 */
function modelDirOf(path: string | undefined): string {
  if (path === undefined || (path === DEFAULT_MODEL_NAME && !existsSync(path))) return defaultModelDir();
  if (existsSync(path)) return path;
  throw new FlagError(
    `--model-path ${path}: no such directory; Hugging Face ids other than ${DEFAULT_MODEL_NAME} (bundled) are not downloaded yet (issue 13)`,
  );
}

export function workerConfigFromFlags(values: FlagValues): WorkerConfig {
  const flags = workerCommandFlags.read(values);
  const served = flags["served-model-name"];
  const snapshot = snapshotConfigFromFlags(values);
  const http = httpBackendFromFlags(values, flags.backend, snapshot?.restoreFrom !== undefined);
  if (snapshot && flags.backend === "mocker")
    throw new FlagError("--checkpoint-after-ready and --restore-from need --backend vllm or sglang");
  if (snapshot?.checkpointAfterReady && !http?.engineCommand)
    throw new FlagError(
      "--checkpoint-after-ready needs --engine-command (the engine this worker starts and checkpoints)",
    );
  // A real engine's command names the model when the worker's flags do not.
  const engineModel = http?.engineCommand ? engineModelOf(splitCommand(http.engineCommand)) : undefined;
  const modelPath = flags["model-path"] ?? (engineModel && existsSync(engineModel) ? engineModel : undefined);
  // Dynamo serves a model under its path or id unless told otherwise.
  const modelName = flags["model-name"] ?? modelPath ?? engineModel ?? DEFAULT_MODEL_NAME;
  const mocker = mockerConfigFromFlags(values, readProfile(flags["perf-profile"]));
  const transferBackend = values["disaggregation-transfer-backend"];
  const modelFiles = modelFilesFromFlags(values, modelPath, DEFAULT_MODEL_NAME);
  const zmqKvEvents = zmqPublisherFromFlags(values);
  const systemPort = systemPortFromFlags(values);
  const advertiseHost = advertiseHostFromFlags(values);
  return {
    runtime: runtimeConfigFromFlags(values),
    servedModelNames: served.length > 0 ? served : [modelName],
    modelPath: modelFiles ? modelFiles.modelId : modelDirOf(modelPath),
    ...(modelFiles ? { modelFiles } : {}),
    disaggregationMode: flags["disaggregation-mode"],
    modelType: flags["model-type"],
    kvTransfer: kvTransferConfigFromFlags(values),
    engine:
      flags.backend === "mocker" || !http
        ? { backend: "mocker", mocker }
        : {
            backend: flags.backend,
            mocker,
            http: {
              ...http,
              blockSize: mocker.blockSize ?? DEFAULT_KV_BLOCK_SIZE,
              dataParallelSize: mocker.dataParallelSize ?? 1,
              ...(typeof transferBackend === "string" ? { transferBackend } : {}),
            },
          },
    host: flags.host,
    port: flags.port,
    drainTimeoutSeconds: flags["drain-timeout"],
    ...(systemPort === undefined ? {} : { systemPort }),
    ...(advertiseHost ? { advertiseHost } : {}),
    ...(zmqKvEvents ? { zmqKvEvents } : {}),
    ...(snapshot ? { snapshot } : {}),
  };
}

/** `kvasir worker`: its flags and how they become a WorkerConfig. */
export const workerCommand: Command<WorkerConfig> & { start(config: WorkerConfig): Promise<Service> } = {
  name: "worker",
  summary: "Run one worker: serves WorkerService.Generate and registers its model in discovery.",
  flags: workerCommandFlags.specs,
  refused: workerCommandFlags.refused,
  toConfig: workerConfigFromFlags,
  // A worker whose engine is gone for good has stopped; the process says so with its exit code. A checkpoint job
  // exits with its outcome.
  start: (config) =>
    config.snapshot?.checkpointAfterReady
      ? runCheckpointJob(config, config.snapshot, (code) => process.exit(code))
      : start({ ...config, onEngineFailed: () => process.exit(1) }),
};
