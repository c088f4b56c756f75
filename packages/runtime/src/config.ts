import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DiscoveryOptions } from "./discovery/types.js";
import type { EventPlaneOptions } from "./event-plane/types.js";
import type { FlagSpec, FlagValues } from "./flags.js";

export type LogLevel = "error" | "warn" | "info" | "debug" | "trace";

/** What every Kvasir process needs to join a deployment: its namespace and the planes it talks over. */
export interface RuntimeConfig {
  namespace: string;
  discovery: DiscoveryOptions;
  eventPlane: EventPlaneOptions;
  logLevel: LogLevel;
}

export const DEFAULT_NAMESPACE = "dynamo";
export const DEFAULT_NATS_SERVER = "nats://127.0.0.1:4222";
export const DEFAULT_DISCOVERY_BUCKET = "kvasir_discovery";
export const DEFAULT_DISCOVERY_TTL_SECONDS = 10;
export const defaultDiscoveryFile = (): string => join(tmpdir(), "kvasir", "discovery.json");

/** Flags shared by every Kvasir process. Names follow Dynamo's; env variables are KVASIR_* (and Dynamo's). */
export const runtimeFlags: FlagSpec[] = [
  {
    name: "namespace",
    type: "string",
    default: DEFAULT_NAMESPACE,
    env: ["KVASIR_NAMESPACE", "DYN_NAMESPACE"],
    help: "Dynamo namespace that groups the components of one deployment",
  },
  {
    name: "discovery-backend",
    type: "string",
    default: "memory",
    choices: ["memory", "file", "nats"],
    env: ["KVASIR_DISCOVERY_BACKEND", "DYN_DISCOVERY_BACKEND"],
    help: "Where instances and model cards are registered: this process, a JSON file on this host, or a NATS KV bucket",
  },
  {
    name: "discovery-file",
    type: "string",
    env: "KVASIR_DISCOVERY_FILE",
    help: `JSON file of the file discovery backend (default: ${defaultDiscoveryFile()})`,
  },
  {
    name: "discovery-bucket",
    type: "string",
    default: DEFAULT_DISCOVERY_BUCKET,
    env: "KVASIR_DISCOVERY_BUCKET",
    help: "NATS KV bucket of the nats discovery backend",
  },
  {
    name: "discovery-ttl",
    type: "number",
    default: DEFAULT_DISCOVERY_TTL_SECONDS,
    env: "KVASIR_DISCOVERY_TTL",
    help: "Seconds an entry outlives its owner's last heartbeat (file and nats backends)",
  },
  {
    name: "event-plane",
    type: "string",
    default: "memory",
    choices: ["memory", "nats"],
    env: "KVASIR_EVENT_PLANE",
    help: "Transport of KV events and load metrics: this process, or NATS core subjects",
  },
  {
    name: "nats-server",
    type: "string",
    default: DEFAULT_NATS_SERVER,
    env: ["KVASIR_NATS_SERVER", "NATS_SERVER"],
    help: "NATS server URL(s), comma-separated",
  },
  {
    name: "log-level",
    type: "string",
    default: "info",
    choices: ["error", "warn", "info", "debug", "trace"],
    env: "KVASIR_LOG_LEVEL",
    help: "Least severe log level written",
  },
];

/** Builds the RuntimeConfig from values parsed with (at least) runtimeFlags. */
export function runtimeConfigFromFlags(values: FlagValues): RuntimeConfig {
  const natsServers = stringValue(values, "nats-server", DEFAULT_NATS_SERVER);
  const ttlSeconds = numberValue(values, "discovery-ttl", DEFAULT_DISCOVERY_TTL_SECONDS);
  if (!(ttlSeconds > 0)) throw new Error(`--discovery-ttl must be positive, got ${ttlSeconds}`);
  return {
    namespace: stringValue(values, "namespace", DEFAULT_NAMESPACE),
    discovery: {
      backend: oneOf(values, "discovery-backend", ["memory", "file", "nats"] as const, "memory"),
      filePath: stringValue(values, "discovery-file", defaultDiscoveryFile()),
      natsServers,
      ttlMs: Math.round(ttlSeconds * 1000),
      bucket: stringValue(values, "discovery-bucket", DEFAULT_DISCOVERY_BUCKET),
    },
    eventPlane: { backend: oneOf(values, "event-plane", ["memory", "nats"] as const, "memory"), natsServers },
    logLevel: oneOf(values, "log-level", ["error", "warn", "info", "debug", "trace"] as const, "info"),
  };
}

function stringValue(values: FlagValues, name: string, fallback: string): string {
  const value = values[name];
  return typeof value === "string" ? value : fallback;
}

function numberValue(values: FlagValues, name: string, fallback: number): number {
  const value = values[name];
  return typeof value === "number" ? value : fallback;
}

function oneOf<T extends string>(values: FlagValues, name: string, choices: readonly T[], fallback: T): T {
  const value = values[name];
  if (value === undefined) return fallback;
  const match = choices.find((choice) => choice === value);
  if (match === undefined)
    throw new Error(`--${name} must be one of ${choices.join(", ")}; got '${String(value)}'`);
  return match;
}
