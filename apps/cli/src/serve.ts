import {
  type FrontendConfig,
  frontendConfigFromFlags,
  frontendFlags,
  start as startFrontend,
} from "@kvasir/frontend";
import {
  createDiscovery,
  createEventPlane,
  defineFlags,
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
  worker: WorkerConfig;
  workers: number;
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
    workers: { type: "number", default: 2, integer: true, positive: true, help: "Mocker workers to start" },
  },
  servedRefusals([...frontendFlags.refused, ...workerCommandFlags.refused]),
);

/** Each refusal once, without those one app makes of a flag the other takes (the worker's parser flags). */
function servedRefusals(refused: RefusedFlag[]): RefusedFlag[] {
  const taken = new Set([...Object.keys(frontendFlags.defs), ...Object.keys(workerDefs)]);
  const byName = new Map(refused.filter((flag) => !taken.has(flag.name)).map((flag) => [flag.name, flag]));
  return [...byName.values()];
}

/**
 * `kvasir serve`: frontend, router and N mocker workers in one process. With no flags everything runs over the
 * memory planes; `--discovery-backend nats --event-plane nats` runs the same code distributed.
 */
export const serveCommand = {
  name: "serve",
  summary: "Run frontend, router and mocker workers in one process (the embedded default).",
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
    return {
      frontend: { ...frontend, modelPath: frontend.modelPath ?? worker.modelPath },
      worker,
      workers: flags.workers,
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
  if (!Number.isInteger(config.workers) || config.workers < 1)
    throw new Error("--workers must be at least 1");
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
    for (let i = 0; i < config.workers; i++) {
      const worker = await startWorker(config.worker, { planes, instanceId: newInstanceId() });
      workers.push(worker);
      started.push(worker);
    }
    const frontend = await startFrontend(config.frontend, { planes });
    started.push(frontend);
    log.info("serving", { url: frontend.url, workers: workers.length });
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
