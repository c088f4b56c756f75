import {
  type FrontendConfig,
  frontendConfigFromFlags,
  frontendFlags,
  start as startFrontend,
} from "@kvasir/frontend";
import {
  type EmbeddedPlannerConfig,
  embeddedPlannerFromFlags,
  servePlannerFlags,
  startEmbeddedPlanner,
} from "@kvasir/planner";
import {
  createDiscovery,
  createEventPlane,
  defineFlags,
  FlagError,
  type FlagValues,
  newInstanceId,
  type Planes,
  type RefusedFlag,
  type Service,
} from "@kvasir/runtime";
import { createLogger, initTracing } from "@kvasir/telemetry";
import {
  start as startWorker,
  type Worker,
  type WorkerConfig,
  workerCommandFlags,
  workerConfigFromFlags,
} from "@kvasir/worker";

export interface ServeConfig {
  frontend: FrontendConfig;
  /** Every worker's configuration; each pool's workers take it with their disaggregation mode. */
  worker: WorkerConfig;
  /** Workers per pool: aggregated, prefill and decode. */
  workers: Record<WorkerConfig["disaggregationMode"], number>;
  /** `--planner`: the planner over the workers, starting and stopping more of them (apps/planner/src/embedded.ts). */
  planner?: EmbeddedPlannerConfig;
}

export interface Serving extends Service {
  readonly url: string;
  readonly workers: readonly Worker[];
  /** The planes every app of this process shares. */
  readonly planes: Planes;
}

// The worker binds loopback on a free port inside `serve`, so its --host and --port are not offered.
const { host: _host, port: _port, ...workerDefs } = workerCommandFlags.defs;

/**
 * `kvasir serve`'s flags: the frontend's and the worker's (a flag both define is taken once and means the same to
 * both), and the number of workers.
 */
export const serveFlags = defineFlags(
  {
    ...frontendFlags.defs,
    ...workerDefs,
    ...servePlannerFlags.defs,
    // The all-in-one command serves both APIs out of the box; `kvasir frontend` keeps Dynamo's default (off).
    "enable-anthropic-api": {
      ...frontendFlags.defs["enable-anthropic-api"],
      default: true,
      differs: "Default on in kvasir serve (Dynamo's frontend: off, as kvasir frontend)",
    },
    workers: {
      type: "number",
      integer: true,
      min: 0,
      help: "Aggregated workers to start (default: 2 mocker workers or 1 vLLM/SGLang worker, 0 with --prefill-workers/--decode-workers); with --backend vllm|sglang each starts its own engine from --engine-command",
    },
    "prefill-workers": {
      type: "number",
      default: 0,
      integer: true,
      min: 0,
      help: "Prefill workers (disaggregated serving, with --decode-workers)",
    },
    "decode-workers": {
      type: "number",
      default: 0,
      integer: true,
      min: 0,
      help: "Decode workers (disaggregated serving, with --prefill-workers)",
    },
  },
  servedRefusals([...frontendFlags.refused, ...workerCommandFlags.refused]),
);

/** Every worker of `serve` runs an engine of its own: one fixed engine port or URL cannot serve several. */
function checkEngines(engine: WorkerConfig["engine"], workers: number): void {
  if (engine.backend === "mocker" || workers < 2) return;
  if (engine.http.engineUrl !== undefined)
    throw new FlagError(
      `--engine-url attaches one worker to one engine; kvasir serve starts ${workers} workers (use --workers 1, or --engine-command so that each starts its own engine)`,
    );
  if (/(^|\s)--port(=|\s)/.test(engine.http.engineCommand ?? ""))
    throw new FlagError(
      `--engine-command sets --port, but each of the ${workers} workers starts its own engine: leave --port out (each worker picks a free one)`,
    );
}

/** Each refusal once, without those one app makes of a flag the other takes (the worker's parser flags). */
function servedRefusals(refused: RefusedFlag[]): RefusedFlag[] {
  const taken = new Set([...Object.keys(frontendFlags.defs), ...Object.keys(workerDefs)]);
  const byName = new Map(refused.filter((flag) => !taken.has(flag.name)).map((flag) => [flag.name, flag]));
  return [...byName.values()];
}

/**
 * `kvasir serve`: frontend, router and N workers in one process (mocker workers, or vLLM/SGLang workers each running
 * its engine from --engine-command). With no flags everything runs over the
 * memory planes; `--discovery-backend nats --event-plane nats` runs the same code distributed.
 */
export const serveCommand = {
  name: "serve",
  summary:
    "Run frontend, router and workers in one process: mocker workers (the embedded default), or vLLM/SGLang workers with --backend and --engine-command.",
  flags: serveFlags.specs,
  refused: serveFlags.refused,
  toConfig(values: FlagValues): ServeConfig {
    const flags = serveFlags.read(values);
    // One status server per process: the frontend's. Workers in the same process would collide on the port.
    const { systemPort: _systemPort, ...worker } = workerConfigFromFlags({
      ...values,
      host: "127.0.0.1",
      port: 0,
    });
    const frontend = frontendConfigFromFlags(values);
    // The processes of --num-processes share their planes over NATS, while serve's workers live in serve's own
    // process: several frontends belong beside workers run as their own processes.
    if ((frontend.numProcesses ?? 1) > 1)
      throw new FlagError(
        "--num-processes: kvasir serve runs in one process; to use more frontend cores run `kvasir frontend --num-processes N` beside `kvasir worker` processes over NATS (--discovery-backend nats --event-plane nats)",
      );
    const prefill = flags["prefill-workers"];
    const decode = flags["decode-workers"];
    const disaggregated = prefill + decode > 0;
    // Real engines each take a GPU's memory: one worker unless asked for more.
    const agg = flags.workers ?? (disaggregated ? 0 : worker.engine.backend === "mocker" ? 2 : 1);
    if (agg + decode < 1)
      throw new FlagError(
        "serve needs at least one aggregated (--workers) or decode (--decode-workers) worker",
      );
    checkEngines(worker.engine, agg + prefill + decode);
    const planner = embeddedPlannerFromFlags({
      values,
      workerSpecs: workerCommandFlags.specs.filter((spec) => spec.name in workerDefs),
      runtime: frontend.runtime,
      ...(flags["perf-profile"] ? { perfProfile: flags["perf-profile"] } : {}),
      speedupRatio: flags["speedup-ratio"],
    });
    // The planner's workers are processes of their own: memory discovery moves to a file they share.
    const runtime = planner?.discoveryFile
      ? {
          ...frontend.runtime,
          discovery: {
            ...frontend.runtime.discovery,
            backend: "file" as const,
            filePath: planner.discoveryFile,
          },
        }
      : frontend.runtime;
    return {
      frontend: { ...frontend, runtime, modelPath: frontend.modelPath ?? worker.modelPath },
      worker,
      workers: { agg, prefill, decode },
      ...(planner ? { planner } : {}),
    };
  },
  start,
};

/**
 * Starts the workers, then the frontend, over one pair of planes that `serve` opens and owns: the memory planes
 * by default (no process-wide state; every app is handed them), NATS when flags say so. A start that fails part
 * way stops what had started.
 */
export async function start(config: ServeConfig): Promise<Serving> {
  // One process, one service name; the apps' own initTracing calls are then no-ops.
  initTracing({ serviceName: "kvasir" });
  const log = createLogger("serve");
  const { agg, prefill, decode } = config.workers;
  const { runtime } = config.frontend;
  const started: Service[] = [];
  const stopAll = async () => {
    for (const service of started.splice(0).reverse()) await service.stop();
  };
  const discovery = await createDiscovery(runtime.discovery);
  started.push({ stop: () => discovery.close() });
  try {
    const events = await createEventPlane(runtime.eventPlane);
    started.push({ stop: () => events.close() });
    const planes: Planes = { discovery, events };
    const workers: Worker[] = [];
    for (const [mode, count] of [
      ["agg", agg],
      ["prefill", prefill],
      ["decode", decode],
    ] as const) {
      for (let i = 0; i < count; i++) {
        const worker = await startWorker(
          { ...config.worker, disaggregationMode: mode },
          { planes, instanceId: newInstanceId() },
        );
        workers.push(worker);
        started.push(worker);
      }
    }
    const frontend = await startFrontend(config.frontend, { planes });
    started.push(frontend);
    if (config.planner)
      started.push(await startEmbeddedPlanner(config.planner, runtime, config.workers, { planes }));
    log.info("serving", { url: frontend.url, aggregated: agg, prefill, decode });
    let stopping: Promise<void> | undefined;
    return {
      url: frontend.url,
      workers,
      planes,
      stop: () => {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
