import { readFileSync } from "node:fs";
import { defaultModelDir } from "@kvasir/llm";
import { type FlagSpec, runtimeConfigFromFlags, runtimeFlags } from "@kvasir/runtime";
import {
  kvEventsPublisherFlags,
  mockerConfigFromFlags,
  mockerFlags,
  workerFlags,
  zmqPublisherFromFlags,
} from "./flags.js";
import { start, type WorkerConfig } from "./worker.js";

/** `kvasir worker`: its flags and how they become a WorkerConfig. */
export const workerCommand = {
  name: "worker",
  summary: "Run one worker: serves WorkerService.Generate and registers its model in discovery.",
  flags: [...runtimeFlags, ...workerFlags, ...kvEventsPublisherFlags, ...mockerFlags] as FlagSpec[],
  toConfig(values: Record<string, unknown>): WorkerConfig {
    const served = values["served-model-name"] as string[];
    const profilePath = values["perf-profile"] as string | undefined;
    const profile: unknown = profilePath ? JSON.parse(readFileSync(profilePath, "utf8")) : undefined;
    const zmqKvEvents = zmqPublisherFromFlags(values);
    return {
      runtime: runtimeConfigFromFlags(values),
      servedModelNames: served.length > 0 ? served : [values["model-name"] as string],
      modelPath: (values["model-path"] as string | undefined) ?? defaultModelDir(),
      disaggregationMode: values["disaggregation-mode"] as WorkerConfig["disaggregationMode"],
      engine: { backend: "mocker", mocker: mockerConfigFromFlags(values, profile) },
      host: values.host as string,
      port: values.port as number,
      drainTimeoutSeconds: values["drain-timeout"] as number,
      ...(values["system-port"] === undefined ? {} : { systemPort: values["system-port"] as number }),
      ...(zmqKvEvents ? { zmqKvEvents } : {}),
    };
  },
  start,
};
