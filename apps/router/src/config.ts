import { type KvRouterSettings, kvRouterFlags, kvRouterSettingsFromFlags } from "@kvasir/kv";
import {
  type FlagSpec,
  type FlagValues,
  type RuntimeConfig,
  runtimeConfigFromFlags,
  runtimeFlags,
} from "@kvasir/runtime";

export interface RouterConfig {
  runtime: RuntimeConfig;
  router: KvRouterSettings;
  /** Tokens per KV block; each worker's card when undefined. */
  blockSize?: number;
  /** Component of the workers routed to. */
  workerComponent: string;
  host: string;
  port: number;
  /** Port of the status server (/health, /live, /metrics); none when undefined. */
  systemPort?: number;
  drainTimeoutSeconds: number;
  /** Address registered in discovery for peers to reach this process (`--advertise-host`); a wildcard bind advertises the host's primary address when undefined. */
  advertiseHost?: string;
  /** Given by tests; random otherwise. */
  instanceId?: bigint;
}

export const routerAppFlags: FlagSpec[] = [
  {
    name: "kv-cache-block-size",
    type: "number",
    env: "DYN_KV_CACHE_BLOCK_SIZE",
    help: "Tokens per KV block (default: each worker's model card)",
  },
  {
    name: "worker-component",
    type: "string",
    default: "backend",
    help: "Component of the workers to route to (backend, prefill, decode)",
  },
  { name: "host", type: "string", default: "127.0.0.1", help: "Address the Connect server binds" },
  { name: "port", type: "number", default: 0, help: "Port of the Connect server (0 picks a free one)" },
  {
    name: "system-port",
    type: "number",
    env: "DYN_SYSTEM_PORT",
    help: "Port of the status server with /health and /metrics (none when unset)",
  },
  { name: "drain-timeout", type: "number", default: 30, help: "Seconds to let streams finish on SIGTERM" },
];

export const routerFlags: FlagSpec[] = [...runtimeFlags, ...routerAppFlags, ...kvRouterFlags];

export function routerConfigFromFlags(values: FlagValues): RouterConfig {
  const blockSize = values["kv-cache-block-size"];
  if (
    blockSize !== undefined &&
    !(typeof blockSize === "number" && Number.isInteger(blockSize) && blockSize > 0)
  ) {
    throw new Error(`--kv-cache-block-size must be a positive whole number, got ${String(blockSize)}`);
  }
  const systemPort = values["system-port"];
  return {
    runtime: runtimeConfigFromFlags(values),
    router: kvRouterSettingsFromFlags(values),
    ...(typeof blockSize === "number" ? { blockSize } : {}),
    workerComponent: values["worker-component"] as string,
    host: values.host as string,
    port: values.port as number,
    ...(typeof systemPort === "number" ? { systemPort } : {}),
    drainTimeoutSeconds: values["drain-timeout"] as number,
  };
}
