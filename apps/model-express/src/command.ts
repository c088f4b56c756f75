import { hubCacheDir } from "@kvasir/model-files";
import {
  advertiseHostFromFlags,
  type Command,
  type FlagValues,
  runtimeConfigFromFlags,
  systemPortFromFlags,
} from "@kvasir/runtime";
import { modelExpressFlags } from "./flags.js";
import { type ModelExpress, type ModelExpressConfig, start } from "./server.js";

export function modelExpressConfigFromFlags(values: FlagValues): ModelExpressConfig {
  const flags = modelExpressFlags.read(values);
  const systemPort = systemPortFromFlags(values);
  const advertiseHost = advertiseHostFromFlags(values);
  const limit = flags["cache-size-limit-gb"];
  return {
    runtime: runtimeConfigFromFlags(values),
    host: flags.host,
    port: flags.port,
    cacheDir: flags["cache-dir"] ?? hubCacheDir(),
    source: flags.source,
    chunkSize: flags["chunk-size-kb"] * 1024,
    drainTimeoutSeconds: flags["drain-timeout"],
    ...(limit === undefined ? {} : { cacheLimitBytes: Math.round(limit * 2 ** 30) }),
    ...(systemPort === undefined ? {} : { systemPort }),
    ...(advertiseHost ? { advertiseHost } : {}),
  };
}

/** `kvasir model-express`: its flags and how they become a ModelExpressConfig. */
export const modelExpressCommand: Command<ModelExpressConfig> & {
  start(config: ModelExpressConfig): Promise<ModelExpress>;
} = {
  name: "model-express",
  summary:
    "Run the model file cache: fetches a model from its source once and serves it (and its peers) to workers.",
  flags: modelExpressFlags.specs,
  toConfig: modelExpressConfigFromFlags,
  start,
};
