// Which pool and router each request goes to. A model's whole requests go to its aggregated pool, else its decode
// pool; each pool gets its own router of the configured mode (for `kv`, the KvRouter host over that pool, made
// when the pool is first used), or every pool asks the standalone routers (`--use-remote-router`).

import type { ComponentHost } from "@kvasir/runtime";
import { followAddresses } from "@kvasir/runtime";
import {
  directRouter,
  hostKvRouter,
  type KvRouterHost,
  type RemoteIndexer,
  type RouterMode,
  type RoutingTarget,
  remoteRouter,
  ServingError,
  selectorRouter,
  type TargetFor,
  type WorkerPool,
  type WorkerPools,
  type WorkerRouter,
} from "@kvasir/serving";
import type { Logger } from "@kvasir/telemetry";
import type { KvRoutingConfig } from "./kv-routing.js";

export interface RoutingOptions {
  mode: RouterMode;
  kv: KvRoutingConfig;
  /** `--kv-cache-block-size`: hashing block size instead of the workers' cards. */
  blockSize?: number;
  remoteIndexer?: RemoteIndexer;
}

export interface Routing {
  targetFor: TargetFor;
  close(): void;
}

/** Routing over `pools`; its routers close with the host. */
export async function createRouting(
  host: ComponentHost,
  pools: WorkerPools,
  options: RoutingOptions,
  log: Logger,
): Promise<Routing> {
  const { mode } = options;
  // Standalone routers follow the pools themselves: one client for every pool.
  const remote =
    mode === "kv" && options.kv.useRemoteRouter
      ? remoteRouter(await followAddresses(host.discovery, `v1/instances/${host.namespace}/router/`))
      : undefined;
  const kvRouter = (pool: WorkerPool): KvRouterHost =>
    hostKvRouter(options.kv.settings, {
      pool,
      events: host.events,
      log,
      replicaId: host.instanceHex,
      ...(options.blockSize !== undefined ? { blockSize: options.blockSize } : {}),
      ...(options.remoteIndexer ? { remoteIndexer: options.remoteIndexer } : {}),
    });
  const routers = new Map<WorkerPool, WorkerRouter>();
  const routerOf = (pool: WorkerPool): WorkerRouter => {
    if (remote) return remote;
    let router = routers.get(pool);
    if (router === undefined) {
      router =
        mode === "kv" ? kvRouter(pool) : mode === "direct" ? directRouter() : selectorRouter(mode, pool);
      routers.set(pool, router);
    }
    return router;
  };
  const targets = new Map<WorkerPool, RoutingTarget>();
  return {
    targetFor(request) {
      const pool = pools.generationPool(request.model);
      if (pool === undefined) {
        if (pools.prefill.workers(request.model).length === 0) return undefined;
        throw new ServingError(
          "no_worker_available",
          `'${request.model}' has prefill workers only; no aggregated or decode worker is serving it.`,
        );
      }
      let target = targets.get(pool);
      if (target === undefined) {
        target = { pool, router: routerOf(pool) };
        targets.set(pool, target);
      }
      return target;
    },
    close() {
      void remote?.close?.();
      for (const router of routers.values()) void router.close?.();
    },
  };
}
