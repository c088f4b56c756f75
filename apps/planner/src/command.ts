import {
  advertiseHostFromFlags,
  type Command,
  FlagError,
  type FlagValues,
  runtimeConfigFromFlags,
  systemPortFromFlags,
} from "@kvasir/runtime";
import { parseWorkload, type Workload } from "./connectors/kubernetes.js";
import type { LocalPoolCommand } from "./connectors/local.js";
import { splitArgs } from "./connectors/local.js";
import type { PoolName } from "./decide.js";
import { plannerFlags } from "./flags.js";
import { loadPerfModel, type PlannerConfig, type PlannerService, start } from "./planner.js";

const POOLS: readonly PoolName[] = ["backend", "prefill", "decode"];

/** This kvasir's own `worker` subcommand: the same node, loader flags and entry script as this process. */
export function defaultWorkerCommand(): string[] {
  const script = process.argv[1];
  if (!script) throw new FlagError("cannot tell how this process was started; give --worker-command");
  return [process.execPath, ...process.execArgv, script, "worker"];
}

export function plannerConfigFromFlags(values: FlagValues): PlannerConfig {
  const f = plannerFlags.read(values);
  const runtime = runtimeConfigFromFlags(values);
  const mode = f["optimization-target"];
  const systemPort = systemPortFromFlags(values);
  const advertiseHost = advertiseHostFromFlags(values);
  const profile = f["profile-results-dir"];
  if (mode === "sla" && !profile) {
    throw new FlagError(
      "--optimization-target sla needs --profile-results-dir (a perf profile, e.g. from `kvasir profile`)",
    );
  }
  let perf: ReturnType<typeof loadPerfModel> | undefined;
  try {
    perf = profile ? loadPerfModel(profile) : undefined;
  } catch (error) {
    throw new FlagError(error instanceof Error ? error.message : String(error));
  }
  const limit = (gpus: number) => ({
    min: f["min-endpoint"],
    max: f["max-endpoint"] ?? Number.POSITIVE_INFINITY,
    gpusPerEngine: gpus,
  });
  if ((f["max-endpoint"] ?? Number.POSITIVE_INFINITY) < f["min-endpoint"]) {
    throw new FlagError("--max-endpoint is below --min-endpoint");
  }
  const environment = f.environment;
  const argsOf: Record<PoolName, string | undefined> = {
    backend: f["agg-worker-args"],
    prefill: f["prefill-worker-args"],
    decode: f["decode-worker-args"],
  };
  const local: Partial<Record<PoolName, LocalPoolCommand>> = {};
  if (environment === "local") {
    const command = f["worker-command"] ? splitArgs(f["worker-command"]) : defaultWorkerCommand();
    for (const pool of POOLS) {
      const args = argsOf[pool];
      if (args !== undefined) local[pool] = { command, args: splitArgs(args) };
    }
    if (Object.keys(local).length === 0) {
      throw new FlagError(
        "--environment local needs the pools' worker flags (--agg-worker-args, --prefill-worker-args, --decode-worker-args)",
      );
    }
  }
  const workloads: Partial<Record<PoolName, Workload>> = {};
  const workloadFlags: Record<PoolName, string | undefined> = {
    backend: f["kubernetes-agg-workload"],
    prefill: f["kubernetes-prefill-workload"],
    decode: f["kubernetes-decode-workload"],
  };
  for (const pool of POOLS) {
    const text = workloadFlags[pool];
    if (!text) continue;
    try {
      workloads[pool] = parseWorkload(text);
    } catch (error) {
      throw new FlagError(error instanceof Error ? error.message : String(error));
    }
  }
  return {
    runtime,
    ...(systemPort === undefined ? {} : { systemPort }),
    ...(advertiseHost ? { advertiseHost } : {}),
    environment,
    noOperation: f["no-operation"],
    ...(f["metric-pulling-prometheus-endpoint"]
      ? { prometheusEndpoint: f["metric-pulling-prometheus-endpoint"] }
      : {}),
    ...(f["model-name"] ? { model: f["model-name"] } : {}),
    local: { pools: local },
    kubernetes: { namespace: f["kubernetes-namespace"], workloads },
    core: {
      mode,
      topology: f.mode,
      intervalS: f["adjustment-interval"],
      ...(mode === "sla" ? { targets: { ttftMs: f.ttft, itlMs: f.itl } } : {}),
      ...(perf ? { perf } : {}),
      predictor: f["load-predictor"],
      predictorOptions: {
        window: f["load-predictor-window"],
        minPoints: f["kalman-min-points"],
        log1p: f["load-predictor-log1p"],
        kalmanQLevel: f["kalman-q-level"],
        kalmanR: f["kalman-r"],
        seasonLength: f["holt-winters-season"],
      },
      limits: {
        prefill: limit(f["prefill-engine-num-gpu"]),
        decode: limit(f["decode-engine-num-gpu"]),
        backend: limit(f["decode-engine-num-gpu"]),
      },
      gpuBudget: f["max-gpu-budget"],
      scaleDownStabilisationMs: f["scale-down-stabilization"] * 1000,
      loadTargetConcurrency: f["load-target-concurrency"],
      correction: !f["no-correction"],
    },
  };
}

/** `kvasir planner`: its flags, how they become a PlannerConfig, and how to start it. */
export const plannerCommand: Command<PlannerConfig> & {
  start(config: PlannerConfig): Promise<PlannerService>;
} = {
  name: "planner",
  summary:
    "Run the planner: sizes the prefill, decode or aggregated pools to traffic (Dynamo's SLA planner).",
  flags: plannerFlags.specs,
  refused: plannerFlags.refused,
  toConfig: plannerConfigFromFlags,
  start: (config) => start(config),
};
