// `kvasir frontend --num-processes N`: a primary process forks N frontend processes (node:cluster) that share the
// HTTP listening socket. The primary serves nothing: it starts the processes, restarts one that dies (a bounded
// number of times), and on SIGTERM/SIGINT tells every process to drain and waits for all of them.
import cluster, { type Worker as ClusterWorker } from "node:cluster";
import type { Service } from "@kvasir/runtime";
import { createLogger, setLogLevel } from "@kvasir/telemetry";
import type { FrontendConfig } from "./config.js";
import { processConfig, replicaSyncOn } from "./num-processes.js";
import { type Frontend, start } from "./server.js";

/** Which of the N processes a forked frontend is (0-based), set by the primary in the child's environment. */
const INDEX_ENV = "KVASIR_FRONTEND_PROCESS_INDEX";
/** A process that dies more often than this within RESTART_WINDOW_MS is not restarted again: the primary stops. */
const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 60_000;

type Message = { kvasir: "frontend-ready"; url: string } | { kvasir: "frontend-stop" };

function isMessage(value: unknown): value is Message {
  return typeof value === "object" && value !== null && "kvasir" in value;
}

/**
 * Starts `kvasir frontend` as its configuration says: one process, or with `--num-processes N > 1` the primary
 * (in the process the operator started) or one of its N frontend processes (in a forked one).
 */
export function startFrontendProcesses(config: FrontendConfig): Promise<Service> {
  if ((config.numProcesses ?? 1) <= 1) return start(config);
  return cluster.isPrimary ? startPrimary(config) : startForked(config);
}

/** A forked process: the normal frontend with its own status port, telling the primary once it serves. */
async function startForked(config: FrontendConfig): Promise<Frontend> {
  const index = Number(process.env[INDEX_ENV] ?? "0");
  // The primary asks for a drain by message rather than by signal: an operator's Ctrl-C reaches every process of
  // the group, and a second signal would cut the drain short. A primary gone (channel closed) means drain too.
  let signalled = false;
  const markSignalled = () => {
    signalled = true;
  };
  process.on("SIGTERM", markSignalled);
  process.on("SIGINT", markSignalled);
  const drain = () => {
    if (!signalled) process.kill(process.pid, "SIGTERM");
  };
  process.on("message", (message: unknown) => {
    if (isMessage(message) && message.kvasir === "frontend-stop") drain();
  });
  process.on("disconnect", drain);
  const frontend = await start(processConfig(config, index));
  const ready: Message = { kvasir: "frontend-ready", url: frontend.url };
  process.send?.(ready);
  return frontend;
}

interface Slot {
  readonly index: number;
  worker: ClusterWorker;
  ready: boolean;
  /** When this slot's process last died unexpectedly, for the restart bound. */
  deaths: number[];
}

/** The primary: forks the processes and resolves once every one serves; rejects (stopping them) if one cannot. */
async function startPrimary(config: FrontendConfig): Promise<Service> {
  setLogLevel(config.runtime.logLevel);
  const log = createLogger("frontend");
  const n = config.numProcesses ?? 1;
  if (replicaSyncOn(config))
    log.info("router replica sync on: the frontend processes share KV routing state over the event plane", {
      processes: n,
    });
  const slots: Slot[] = [];
  let url = "";
  let stopping = false;
  let startup: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const startupDone = new Promise<void>((resolve, reject) => {
    startup = { resolve, reject };
  });

  const fork = (slot: { index: number }): ClusterWorker => cluster.fork({ [INDEX_ENV]: String(slot.index) });
  const alive = () => slots.filter((slot) => !slot.worker.isDead());
  const exits = new Map<ClusterWorker, Promise<number | null>>();
  const watch = (slot: Slot) => {
    const { worker } = slot;
    exits.set(worker, new Promise((resolve) => worker.once("exit", (code) => resolve(code))));
    worker.on("message", (message: unknown) => {
      if (!isMessage(message) || message.kvasir !== "frontend-ready") return;
      slot.ready = true;
      url = message.url;
      log.info("frontend process ready", { index: slot.index, pid: worker.process.pid });
      if (slots.every((s) => s.ready)) startup?.resolve();
    });
    worker.once("exit", (code, signal) => onExit(slot, worker, code, signal));
  };
  const onExit = (slot: Slot, worker: ClusterWorker, code: number | null, signal: string | null) => {
    if (stopping || slot.worker !== worker) return;
    const fields = { index: slot.index, pid: worker.process.pid, code, signal };
    if (startup) {
      // Not restarted while starting: a process that cannot start (a port taken, a bad plane) would fail again.
      startup.reject(
        new Error(
          `frontend process ${slot.index} exited before it was ready (code ${code}, signal ${signal})`,
        ),
      );
      return;
    }
    const now = Date.now();
    slot.deaths = [...slot.deaths.filter((at) => now - at < RESTART_WINDOW_MS), now];
    if (slot.deaths.length > MAX_RESTARTS) {
      log.error("frontend process keeps exiting; stopping every process", {
        ...fields,
        restarts: MAX_RESTARTS,
      });
      void stopAll().finally(() => process.exit(1));
      return;
    }
    log.error("frontend process exited unexpectedly; restarting it", {
      ...fields,
      restart: slot.deaths.length,
    });
    slot.ready = false;
    slot.worker = fork(slot);
    watch(slot);
  };

  let stopped: Promise<void> | undefined;
  const stopAll = (): Promise<void> => {
    stopping = true;
    stopped ??= (async () => {
      const running = alive();
      const stop: Message = { kvasir: "frontend-stop" };
      for (const slot of running) {
        // A process not yet listening for messages (still starting) or whose channel is gone takes SIGTERM.
        if (slot.ready && slot.worker.isConnected()) slot.worker.send(stop);
        else slot.worker.process.kill("SIGTERM");
      }
      const codes = await Promise.all(running.map((slot) => exits.get(slot.worker)));
      const failed = codes.filter((code) => code !== 0).length;
      log.info("frontend processes stopped", { processes: running.length, failed });
      if (failed > 0) throw new Error(`${failed} frontend process(es) did not stop cleanly`);
    })();
    return stopped;
  };
  // An immediate exit (a second signal) leaves no process behind.
  process.on("exit", () => {
    for (const slot of slots) if (!slot.worker.isDead()) slot.worker.process.kill("SIGKILL");
  });

  for (let index = 0; index < n; index++) {
    const slot: Slot = { index, worker: fork({ index }), ready: false, deaths: [] };
    slots.push(slot);
    watch(slot);
  }
  try {
    await startupDone;
  } catch (error) {
    await stopAll().catch(() => undefined);
    throw error;
  }
  startup = undefined;
  log.info("all frontend processes ready", {
    processes: n,
    url,
    ...(config.systemPort !== undefined
      ? { system_ports: slots.map((slot) => (config.systemPort ?? 0) + slot.index) }
      : {}),
  });
  return { stop: stopAll };
}
