// The planner inside `kvasir serve` (`--planner sla --ttft 500 --itl 50`): the local connector starts extra
// `kvasir worker` processes with serve's own worker flags. They are other processes, so they cannot join serve's
// memory planes: with --planner, serve's memory discovery becomes the file backend (a JSON file of its own), which
// the workers it starts are pointed at. Their load metrics stay in their own memory event plane; the sla mode
// does not need them (it reads the frontend's metrics).
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parsePerfProfile, speedUpPerfProfile } from "@kvasir/protocol";
import {
  defineFlags,
  FlagError,
  type FlagSpec,
  type FlagValues,
  type HostDeps,
  type RuntimeConfig,
} from "@kvasir/runtime";
import { defaultWorkerCommand } from "./command.js";
import { PLANNER_MODES, type PoolName, type Topology } from "./decide.js";
import { PerfModel } from "./perf-model.js";
import { loadPerfModel, type PlannerService, start } from "./planner.js";
import { LOAD_PREDICTORS } from "./predictors.js";

export const servePlannerFlags = defineFlags({
  planner: {
    type: "string",
    choices: PLANNER_MODES,
    help: "Run the planner over the workers (its --optimization-target); it starts and stops extra `kvasir worker` processes",
  },
  ttft: {
    type: "number",
    default: 500,
    positive: true,
    help: "With --planner sla: target time to first token (ms)",
  },
  itl: {
    type: "number",
    default: 50,
    positive: true,
    help: "With --planner sla: target inter-token latency (ms)",
  },
  "adjustment-interval": {
    type: "number",
    default: 10,
    positive: true,
    help: "With --planner: seconds between adjustments",
  },
  "min-endpoint": {
    type: "number",
    integer: true,
    min: 0,
    help: "With --planner: fewest workers per pool (default: the pool's --workers/--prefill-workers/--decode-workers)",
  },
  "max-endpoint": {
    type: "number",
    default: 8,
    integer: true,
    positive: true,
    help: "With --planner: most workers per pool",
  },
  "scale-down-stabilization": {
    type: "number",
    default: 60,
    min: 0,
    help: "With --planner: seconds a lower size must hold before a pool shrinks",
  },
  "profile-results-dir": {
    type: "string",
    help: "With --planner sla: the perf profile (default: the workers' --perf-profile, else the mocker's measured default)",
  },
  "load-predictor": {
    type: "string",
    choices: LOAD_PREDICTORS,
    default: "constant",
    help: "With --planner: load predictor",
  },
});

export interface EmbeddedPlannerConfig {
  flags: ReturnType<typeof servePlannerFlags.read>;
  mode: (typeof PLANNER_MODES)[number];
  /** Serve's worker flags, as given, for the workers the planner starts. */
  workerArgs: string[];
  /** Where serve's discovery lives when it was memory (the workers started must share it). */
  discoveryFile?: string;
  perf?: PerfModel;
}

/** The flags given on the command line as `--name=value` arguments again (lists as repeated values). */
export function argsOf(values: FlagValues, specs: readonly FlagSpec[]): string[] {
  const out: string[] = [];
  for (const spec of specs) {
    const v = values[spec.name];
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      if (v.length > 0) out.push(`--${spec.name}`, ...v.map(String));
    } else out.push(`--${spec.name}=${String(v)}`);
  }
  return out;
}

/** The mocker's default timings, measured with `kvasir profile` against `kvasir serve` (see docs/planner.md). */
export const DEFAULT_MOCKER_PROFILE = fileURLToPath(
  new URL("../profiles/mocker-default.json", import.meta.url),
);

/** A perf profile with its times divided by `speedup`: what workers run with --speedup-ratio show. */
export function scaledPerfModel(path: string, speedup: number): PerfModel {
  return new PerfModel(speedUpPerfProfile(parsePerfProfile(JSON.parse(readFileSync(path, "utf8"))), speedup));
}

export interface ServeWorkerSetup {
  /** Serve's parsed flag values (only those given) and the worker's flag specs. */
  values: FlagValues;
  workerSpecs: readonly FlagSpec[];
  runtime: RuntimeConfig;
  /** The workers' --perf-profile and --speedup-ratio. */
  perfProfile?: string;
  speedupRatio: number;
}

/**
 * `--planner` of `kvasir serve` as a config; undefined without it. Also says whether serve must move its memory
 * discovery to a file, so that the workers the planner starts can register where the frontend looks.
 */
export function embeddedPlannerFromFlags(setup: ServeWorkerSetup): EmbeddedPlannerConfig | undefined {
  const flags = servePlannerFlags.read(setup.values);
  const mode = flags.planner;
  if (!mode) return undefined;
  let perf: PerfModel | undefined;
  try {
    if (flags["profile-results-dir"]) perf = loadPerfModel(flags["profile-results-dir"]);
    else if (setup.perfProfile) perf = scaledPerfModel(setup.perfProfile, setup.speedupRatio);
    else perf = scaledPerfModel(DEFAULT_MOCKER_PROFILE, setup.speedupRatio);
  } catch (error) {
    throw new FlagError(error instanceof Error ? error.message : String(error));
  }
  const memory = setup.runtime.discovery.backend === "memory";
  const discoveryFile = memory ? join(tmpdir(), `kvasir-serve-${process.pid}`, "discovery.json") : undefined;
  const planes = new Set([
    "discovery-backend",
    "discovery-file",
    "event-plane",
    "system-port",
    "host",
    "port",
  ]);
  const given = argsOf(
    setup.values,
    setup.workerSpecs.filter((s) => !(memory && planes.has(s.name)) && s.name !== "system-port"),
  );
  const workerArgs = memory
    ? [...given, "--discovery-backend=file", `--discovery-file=${discoveryFile}`, "--event-plane=memory"]
    : given;
  return { flags, mode, workerArgs, ...(discoveryFile ? { discoveryFile } : {}), perf };
}

/** Starts the planner of `kvasir serve` over its planes, sizing the pools serve started (agg, or prefill and decode). */
export function startEmbeddedPlanner(
  config: EmbeddedPlannerConfig,
  runtime: RuntimeConfig,
  workers: Readonly<Record<"agg" | "prefill" | "decode", number>>,
  deps: HostDeps,
): Promise<PlannerService> {
  const topology: Topology = workers.agg > 0 ? "agg" : "disagg";
  const f = config.flags;
  const command = defaultWorkerCommand();
  const argsFor = (mode: string) => ({
    command,
    args: [...config.workerArgs, `--disaggregation-mode=${mode}`],
  });
  const limit = (pool: PoolName) => ({
    min: f["min-endpoint"] ?? (pool === "backend" ? workers.agg : workers[pool]),
    max: f["max-endpoint"],
    gpusPerEngine: 1,
  });
  return start(
    {
      runtime,
      environment: "local",
      noOperation: false,
      local: {
        pools:
          topology === "agg"
            ? { backend: argsFor("agg") }
            : { prefill: argsFor("prefill"), decode: argsFor("decode") },
      },
      core: {
        mode: config.mode,
        topology,
        intervalS: f["adjustment-interval"],
        targets: { ttftMs: f.ttft, itlMs: f.itl },
        ...(config.perf ? { perf: config.perf } : {}),
        predictor: f["load-predictor"],
        limits: { backend: limit("backend"), prefill: limit("prefill"), decode: limit("decode") },
        gpuBudget: -1,
        scaleDownStabilisationMs: f["scale-down-stabilization"] * 1000,
        loadTargetConcurrency: 8,
        correction: true,
      },
    },
    deps,
  );
}
