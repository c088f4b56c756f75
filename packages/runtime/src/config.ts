import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_ETCD_ENDPOINTS } from "./discovery/etcd-endpoints.js";
import type { DiscoveryOptions } from "./discovery/types.js";
import type { EventPlaneOptions } from "./event-plane/types.js";
import { defineFlags, type FlagValues } from "./flags.js";
import {
  type ConnectSecurity,
  connectSecurityFlags,
  connectSecurityFromFlags,
  etcdAuthFromFlags,
  etcdSecurityFlags,
  natsAuthFromFlags,
  natsSecurityFlags,
} from "./plane-security.js";

export const LOG_LEVELS = ["error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** What every Kvasir process needs to join a deployment: its namespace and the planes it talks over. */
export interface RuntimeConfig {
  namespace: string;
  discovery: DiscoveryOptions;
  eventPlane: EventPlaneOptions;
  logLevel: LogLevel;
  /** TLS and the service token of the Connect plane (servers this process runs, clients it dials). */
  connect?: ConnectSecurity;
}

export const DEFAULT_NAMESPACE = "dynamo";
export const DEFAULT_NATS_SERVER = "nats://127.0.0.1:4222";
export const DEFAULT_DISCOVERY_BUCKET = "kvasir_discovery";
export const DEFAULT_DISCOVERY_TTL_SECONDS = 10;
export const DEFAULT_DRAIN_TIMEOUT_SECONDS = 30;
export const defaultDiscoveryFile = (): string => join(tmpdir(), "kvasir", "discovery.json");

export const DISCOVERY_BACKENDS = ["memory", "file", "nats", "etcd"] as const;
export const EVENT_PLANES = ["memory", "nats"] as const;

/** Flags shared by every Kvasir process. Names follow Dynamo's; env variables are KVASIR_* and Dynamo's. */
export const runtimeFlags = defineFlags({
  namespace: {
    type: "string",
    default: DEFAULT_NAMESPACE,
    env: ["KVASIR_NAMESPACE", "DYN_NAMESPACE"],
    help: "Dynamo namespace that groups the components of one deployment",
    dynamo: true,
  },
  "discovery-backend": {
    type: "string",
    default: "memory",
    choices: DISCOVERY_BACKENDS,
    env: ["KVASIR_DISCOVERY_BACKEND", "DYN_DISCOVERY_BACKEND"],
    help: "Where instances and model cards are registered: this process, a JSON file on this host, a NATS KV bucket, or etcd (leases)",
    dynamo: true,
    differs:
      "Default memory (Dynamo: etcd; kubernetes in its operator): one `kvasir serve` needs no infrastructure. No kubernetes backend; `mem` is spelled memory; file is one JSON file, not Dynamo's DYN_FILE_KV directory",
  },
  "discovery-file": {
    type: "string",
    env: "KVASIR_DISCOVERY_FILE",
    help: "JSON file of the file discovery backend (default: kvasir/discovery.json in the OS temp directory)",
  },
  "discovery-bucket": {
    type: "string",
    default: DEFAULT_DISCOVERY_BUCKET,
    env: "KVASIR_DISCOVERY_BUCKET",
    help: "NATS KV bucket of the nats discovery backend",
  },
  "discovery-ttl": {
    type: "number",
    default: DEFAULT_DISCOVERY_TTL_SECONDS,
    positive: true,
    env: "KVASIR_DISCOVERY_TTL",
    help: "Seconds an entry outlives its owner's last heartbeat (file and nats backends; etcd: the lease TTL)",
  },
  "event-plane": {
    type: "string",
    choices: EVENT_PLANES,
    env: ["KVASIR_EVENT_PLANE", "DYN_EVENT_PLANE"],
    help: "Transport of KV events and load metrics: this process, or NATS core subjects (default: nats with nats or etcd discovery, else memory)",
    dynamo: true,
    differs:
      "Default memory with memory or file discovery, so one process needs no NATS (Dynamo: nats, and zmq with file discovery); no zmq event plane yet (vLLM-style ZMQ KV events: `kvasir worker --kv-events-publisher zmq` with `kvasir indexer`)",
  },
  "nats-server": {
    type: "string",
    default: DEFAULT_NATS_SERVER,
    env: ["KVASIR_NATS_SERVER", "NATS_SERVER"],
    help: "NATS server URL(s), comma-separated",
    dynamo: "NATS_SERVER (env only)",
  },
  "etcd-endpoints": {
    type: "string",
    default: DEFAULT_ETCD_ENDPOINTS,
    env: ["KVASIR_ETCD_ENDPOINTS", "ETCD_ENDPOINTS"],
    help: "etcd client URL(s) of the etcd discovery backend, comma-separated",
    dynamo: "ETCD_ENDPOINTS (env only)",
  },
  "log-level": {
    type: "string",
    default: "info",
    choices: LOG_LEVELS,
    env: "KVASIR_LOG_LEVEL",
    help: "Least severe log level written",
  },
  ...connectSecurityFlags.defs,
  ...natsSecurityFlags.defs,
  ...etcdSecurityFlags.defs,
});

/** Builds the RuntimeConfig from values parsed with (at least) runtimeFlags. */
export function runtimeConfigFromFlags(values: FlagValues): RuntimeConfig {
  const flags = runtimeFlags.read(values);
  const natsServers = flags["nats-server"];
  const natsAuth = natsAuthFromFlags(values);
  const etcdAuth = etcdAuthFromFlags(values);
  const connect = connectSecurityFromFlags(values);
  return {
    namespace: flags.namespace,
    discovery: {
      backend: flags["discovery-backend"],
      filePath: flags["discovery-file"] ?? defaultDiscoveryFile(),
      natsServers,
      etcdEndpoints: flags["etcd-endpoints"],
      ttlMs: Math.round(flags["discovery-ttl"] * 1000),
      bucket: flags["discovery-bucket"],
      ...(natsAuth ? { natsAuth } : {}),
      ...(etcdAuth ? { etcdAuth } : {}),
    },
    eventPlane: {
      backend: flags["event-plane"] ?? defaultEventPlane(flags["discovery-backend"]),
      natsServers,
      ...(natsAuth ? { natsAuth } : {}),
    },
    logLevel: flags["log-level"],
    ...(Object.keys(connect).length > 0 ? { connect } : {}),
  };
}

/** As Dynamo: a deployment that discovers over NATS or etcd also has NATS for events; a local one needs none. */
function defaultEventPlane(discovery: (typeof DISCOVERY_BACKENDS)[number]): (typeof EVENT_PLANES)[number] {
  return discovery === "nats" || discovery === "etcd" ? "nats" : "memory";
}
