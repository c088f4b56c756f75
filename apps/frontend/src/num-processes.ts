// `--num-processes N`: what N > 1 demands of the rest of the configuration, checked before any process starts.
import { FlagError } from "@kvasir/runtime";
import type { FrontendConfig } from "./config.js";

/**
 * The configuration every frontend process of `--num-processes N` runs with. With an embedded KV router, the
 * processes share their bookings through replica sync, which travels over the event plane: a memory plane lives in
 * one process, so NATS is required. Each process's status server takes its own port (port + index), so port 0
 * (which every process would share) is refused.
 */
export function multiProcessConfig(config: FrontendConfig): FrontendConfig {
  const n = config.numProcesses ?? 1;
  if (n <= 1) return config;
  let result = config;
  const kv = config.kvRouting;
  if (config.routerMode === "kv" && kv && !kv.useRemoteRouter) {
    if (config.runtime.eventPlane.backend === "memory")
      throw new FlagError(
        `--num-processes ${n} with --router-mode kv: the processes share routing state (router replica sync) over the event plane, and a memory event plane cannot be shared between processes; use --event-plane nats (or --use-remote-router)`,
      );
    result = { ...result, kvRouting: { ...kv, settings: { ...kv.settings, replicaSync: true } } };
  }
  const port = config.systemPort;
  if (port === 0)
    throw new FlagError(
      `--num-processes ${n}: --system-port 0 cannot give each process its own status port; give a port (the processes use it and the ${n - 1} above it)`,
    );
  if (port !== undefined && port + n - 1 > 65535)
    throw new FlagError(
      `--num-processes ${n}: --system-port ${port} leaves no room for ${n} status ports (port to port + ${n - 1})`,
    );
  return result;
}

/** The configuration of process `index` (0-based): its own status port, port + index. */
export function processConfig(config: FrontendConfig, index: number): FrontendConfig {
  return config.systemPort === undefined ? config : { ...config, systemPort: config.systemPort + index };
}

/** Whether process `config` routes with an embedded KV router whose replicas sync (logged by the primary). */
export function replicaSyncOn(config: FrontendConfig): boolean {
  return (
    config.routerMode === "kv" &&
    config.kvRouting?.useRemoteRouter === false &&
    config.kvRouting.settings.replicaSync
  );
}
