import { type FrontendConfig, frontendCommand, start as startFrontend } from "@kvasir/frontend";
import { type FlagSpec, newInstanceId, type Service } from "@kvasir/runtime";
import { createLogger, initTracing } from "@kvasir/telemetry";
import { start as startWorker, type Worker, type WorkerConfig, workerCommand } from "@kvasir/worker";

export interface ServeConfig {
  frontend: FrontendConfig;
  worker: WorkerConfig;
  workers: number;
}

export interface Serving extends Service {
  readonly url: string;
  readonly workers: readonly Worker[];
}

/** Flags the frontend and the worker both define; `serve` takes them once. */
const shared = new Set(frontendCommand.flags.map((flag) => flag.name));

/**
 * `kvasir serve`: frontend, router and N mocker workers in one process. With no flags everything runs over the
 * memory planes; `--discovery-backend nats --event-plane nats` runs the same code distributed.
 */
export const serveCommand = {
  name: "serve",
  summary: "Run frontend, router and mocker workers in one process (the embedded default).",
  flags: [
    ...frontendCommand.flags,
    ...workerCommand.flags.filter(
      (flag) => !shared.has(flag.name) && flag.name !== "host" && flag.name !== "port",
    ),
    { name: "workers", type: "number", default: 2, help: "Mocker workers to start" },
  ] as FlagSpec[],
  toConfig(values: Record<string, unknown>): ServeConfig {
    const worker = workerCommand.toConfig({ ...values, host: "127.0.0.1", port: 0 });
    const frontend = frontendCommand.toConfig(values);
    return {
      frontend: { ...frontend, modelPath: frontend.modelPath ?? worker.modelPath },
      worker,
      workers: values.workers as number,
    };
  },
  start,
};

export async function start(config: ServeConfig): Promise<Serving> {
  // One process, one service name; the apps' own initTracing calls are then no-ops.
  initTracing({ serviceName: "kvasir" });
  const log = createLogger("serve");
  if (!Number.isInteger(config.workers) || config.workers < 1)
    throw new Error("--workers must be at least 1");
  const workers: Worker[] = [];
  for (let i = 0; i < config.workers; i++)
    workers.push(await startWorker({ ...config.worker, instanceId: newInstanceId() }));
  const frontend = await startFrontend(config.frontend);
  log.info("serving", { url: frontend.url, workers: workers.length });
  return {
    url: frontend.url,
    workers,
    async stop() {
      await frontend.stop();
      await Promise.all(workers.map((worker) => worker.stop()));
    },
  };
}
