import { hostname } from "node:os";
import {
  advertiseFlags,
  advertiseHostFromFlags,
  defineFlags,
  drainFlags,
  type FlagValues,
  type RuntimeConfig,
  runtimeConfigFromFlags,
  runtimeFlags,
  serverFlags,
  statusFlags,
  systemPortFromFlags,
} from "@kvasir/runtime";

export interface SnapshotAgentConfig {
  runtime: RuntimeConfig;
  /** Checkpoint storage: one directory per checkpoint id (a shared volume in Kubernetes). */
  storagePath: string;
  criuPath: string;
  cudaCheckpointPath: string;
  /** Longest one dump or restore may take. */
  operationTimeoutSeconds: number;
  gcIntervalSeconds: number;
  maxCheckpointAgeSeconds?: number;
  maxStorageBytes?: number;
  /** This node's name, registered with the agent so workers find the agent of their node. */
  nodeName: string;
  host: string;
  port: number;
  systemPort?: number;
  drainTimeoutSeconds: number;
  advertiseHost?: string;
}

/** `kvasir snapshot-agent`'s flags: the runtime's, server, status, drain, advertise and its own. */
export const snapshotAgentFlags = defineFlags({
  ...runtimeFlags.defs,
  ...serverFlags.defs,
  ...statusFlags.defs,
  ...advertiseFlags.defs,
  ...drainFlags.defs,
  "storage-path": {
    type: "string",
    default: "/checkpoints",
    help: "Checkpoint storage: a directory per checkpoint id with its images, manifest and record",
    dynamo: "storage.pvc basePath (snapshot chart)",
  },
  "criu-path": { type: "string", default: "criu", help: "The criu binary (CRIU 3.x)" },
  "cuda-checkpoint-path": {
    type: "string",
    default: "cuda-checkpoint",
    help: "NVIDIA's cuda-checkpoint binary; processes without CUDA state are dumped without it",
  },
  "operation-timeout": {
    type: "number",
    default: 1800,
    positive: true,
    help: "Seconds one dump or restore may take",
  },
  "gc-interval": {
    type: "number",
    default: 300,
    positive: true,
    help: "Seconds between garbage collections of checkpoint storage",
  },
  "max-checkpoint-age": {
    type: "number",
    positive: true,
    help: "Seconds a checkpoint may go unused before it is deleted (no age limit when unset)",
  },
  "max-storage-bytes": {
    type: "number",
    positive: true,
    integer: true,
    help: "Bytes of checkpoints kept; the least recently used beyond it are deleted (no limit when unset)",
  },
  "node-name": {
    type: "string",
    env: "NODE_NAME",
    help: "This node's name (default: the host name), registered so workers find their node's agent",
  },
});

export function snapshotAgentConfigFromFlags(values: FlagValues): SnapshotAgentConfig {
  const flags = snapshotAgentFlags.read(values);
  const config: SnapshotAgentConfig = {
    runtime: runtimeConfigFromFlags(values),
    storagePath: flags["storage-path"],
    criuPath: flags["criu-path"],
    cudaCheckpointPath: flags["cuda-checkpoint-path"],
    operationTimeoutSeconds: flags["operation-timeout"],
    gcIntervalSeconds: flags["gc-interval"],
    nodeName: flags["node-name"] ?? hostname(),
    host: flags.host,
    port: flags.port,
    drainTimeoutSeconds: flags["drain-timeout"],
  };
  if (flags["max-checkpoint-age"] !== undefined) config.maxCheckpointAgeSeconds = flags["max-checkpoint-age"];
  if (flags["max-storage-bytes"] !== undefined) config.maxStorageBytes = flags["max-storage-bytes"];
  const systemPort = systemPortFromFlags(values);
  if (systemPort !== undefined) config.systemPort = systemPort;
  const advertiseHost = advertiseHostFromFlags(values);
  if (advertiseHost) config.advertiseHost = advertiseHost;
  return config;
}
