// The worker pools of a namespace, one per worker component: aggregated (`backend`), `prefill` and `decode`.
// A model is served while any of its pools has a worker.
import type { Discovery, EventPlane } from "@kvasir/runtime";
import { WorkerPool } from "./worker-pool.js";

export const WORKER_COMPONENTS = ["backend", "prefill", "decode"] as const;
export type WorkerComponent = (typeof WORKER_COMPONENTS)[number];

export interface WorkerPools {
  readonly backend: WorkerPool;
  readonly prefill: WorkerPool;
  readonly decode: WorkerPool;
  readonly all: readonly WorkerPool[];
  /**
   * The pool that runs whole requests for `model`: its aggregated workers, else its decode workers (which serve
   * whole requests while no prefill worker is there); undefined when neither has one.
   */
  generationPool(model: string): WorkerPool | undefined;
  close(): void;
}

export interface WorkerPoolsOptions {
  namespace: string;
  events?: EventPlane;
  /** Where workers joining and leaving, and failed discovery watches, are logged. */
  log?: {
    info(message: string, fields?: Record<string, unknown>): void;
    error(message: string, fields?: Record<string, unknown>): void;
  };
}

/** Opens and starts the three pools; nothing stays open when one fails to start. */
export async function openWorkerPools(
  discovery: Discovery,
  options: WorkerPoolsOptions,
): Promise<WorkerPools> {
  const poolOf = (component: WorkerComponent) =>
    new WorkerPool(discovery, {
      namespace: options.namespace,
      component,
      ...(options.events ? { events: options.events } : {}),
      onError: (error) => options.log?.error("discovery watch failed", { component, error: String(error) }),
    });
  const backend = poolOf("backend");
  const prefill = poolOf("prefill");
  const decode = poolOf("decode");
  const all = [backend, prefill, decode];
  const { log } = options;
  if (log) {
    for (const pool of all) {
      pool.onChange(({ type, worker }) =>
        log.info(type === "added" ? "worker joined" : "worker left", {
          component: pool.component,
          worker_id: worker.instanceId.toString(16),
          model: worker.model,
          address: worker.address,
        }),
      );
    }
  }
  try {
    await Promise.all(all.map((pool) => pool.start()));
  } catch (error) {
    for (const pool of all) pool.close();
    throw error;
  }
  return {
    backend,
    prefill,
    decode,
    all,
    generationPool(model) {
      if (backend.workers(model).length > 0) return backend;
      if (decode.workers(model).length > 0) return decode;
      return undefined;
    },
    close() {
      for (const pool of all) pool.close();
    },
  };
}
