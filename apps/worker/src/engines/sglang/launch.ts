// `python -m sglang.launch_server --model-path MODEL ...` completed for the worker (flag names from SGLang's
// server_args.py): its HTTP port and host, `--kv-events-config`, `--page-size`, `--enable-metrics` (SGLang serves
// /metrics only with it), and for disaggregated workers `--disaggregation-mode` with a bootstrap port of its own
// (8998 by default: two prefill engines on one host would collide).
import { flagValue, intFlag } from "../http-engine/command-line.js";
import {
  addUnless,
  baseLaunch,
  type EngineFlagNames,
  httpUrl,
  type LaunchInput,
  type LaunchPlan,
} from "../http-engine/launch.js";

export const SGLANG_FLAGS: EngineFlagNames = {
  port: ["--port"],
  host: ["--host"],
  blockSize: ["--page-size"],
  dataParallelSize: ["--dp-size", "--data-parallel-size", "--dp"],
  maxNumSeqs: ["--max-running-requests"],
  maxNumBatchedTokens: ["--chunked-prefill-size"],
  contextLength: ["--context-length"],
  kvEventsConfig: ["--kv-events-config"],
};

export function sglangLaunch(input: LaunchInput): LaunchPlan {
  const base = baseLaunch("sglang", input, SGLANG_FLAGS, "--page-size");
  const { argv } = base;
  addUnless(argv, ["--enable-metrics"], "--enable-metrics");
  let bootstrapPort: number | undefined;
  if (input.disaggregationMode !== "agg") {
    const mode = flagValue(argv, ["--disaggregation-mode"]);
    if (mode === undefined) argv.push("--disaggregation-mode", input.disaggregationMode);
    else if (mode !== input.disaggregationMode)
      throw new Error(
        `the engine command says --disaggregation-mode ${String(mode)} but the worker is a ${input.disaggregationMode} worker`,
      );
    if (input.transferBackend)
      addUnless(
        argv,
        ["--disaggregation-transfer-backend"],
        "--disaggregation-transfer-backend",
        input.transferBackend,
      );
    if (input.disaggregationMode === "prefill") {
      bootstrapPort = intFlag(argv, ["--disaggregation-bootstrap-port"]);
      if (bootstrapPort === undefined) {
        bootstrapPort = input.ports.bootstrap;
        argv.push("--disaggregation-bootstrap-port", String(bootstrapPort));
      }
    }
  }
  return {
    argv,
    env: {},
    url: httpUrl(base.host, base.port),
    settings: {
      ...base.settings,
      priorityScheduling: flagValue(argv, ["--enable-priority-scheduling"]) === true,
      ...(bootstrapPort === undefined ? {} : { bootstrapPort }),
    },
    ...(base.kvEventsConfig ? { kvEventsConfig: base.kvEventsConfig } : {}),
  };
}
