import {
  advertiseHostFromFlags,
  type Command,
  FlagError,
  type FlagValues,
  runtimeConfigFromFlags,
  systemPortFromFlags,
} from "@kvasir/runtime";
import { indexerFlags } from "./flags.js";
import {
  defaultSnapshotKey,
  type Indexer,
  type IndexerConfig,
  start,
  type ZmqPublisherConfig,
} from "./indexer.js";

/** A worker id as given on the command line: 16 hex digits (as Kvasir prints ids), 0x-prefixed hex, or decimal. */
export function parseWorkerId(text: string): bigint {
  const id = /^[0-9a-fA-F]{16}$/.test(text)
    ? BigInt(`0x${text}`)
    : /^(0x[0-9a-fA-F]+|\d+)$/.test(text)
      ? BigInt(text)
      : undefined;
  if (id === undefined || id >= 1n << 64n) throw new FlagError(`invalid worker id '${text}'`);
  return id;
}

/** Pairs --zmq-endpoint with --zmq-worker-id and --zmq-replay-endpoint by position. */
export function zmqPublishersFromFlags(values: FlagValues): ZmqPublisherConfig[] {
  const flags = indexerFlags.read(values);
  const endpoints = flags["zmq-endpoint"];
  const workerIds = flags["zmq-worker-id"];
  const replays = flags["zmq-replay-endpoint"];
  if (workerIds.length !== endpoints.length) {
    throw new FlagError(
      `each --zmq-endpoint needs a --zmq-worker-id (${endpoints.length} endpoints, ${workerIds.length} ids)`,
    );
  }
  if (replays.length > endpoints.length)
    throw new FlagError("more --zmq-replay-endpoint than --zmq-endpoint values");
  return endpoints.map((endpoint, i) => {
    const replay = replays[i];
    return {
      endpoint,
      workerId: parseWorkerId(workerIds[i] ?? ""),
      ...(replay && replay !== "-" ? { replayEndpoint: replay } : {}),
    };
  });
}

export function indexerConfigFromFlags(values: FlagValues): IndexerConfig {
  const flags = indexerFlags.read(values);
  const runtime = runtimeConfigFromFlags(values);
  const backend = flags["indexer-backend"];
  const redisUrl = flags["redis-url"];
  const systemPort = systemPortFromFlags(values);
  const advertiseHost = advertiseHostFromFlags(values);
  return {
    runtime,
    host: flags.host,
    port: flags.port,
    blockSize: flags["kv-cache-block-size"],
    ...(backend ? { backend } : {}),
    kvEventComponents: flags["kv-events-component"],
    // Durable by default wherever it can be: a killed indexer then loses no event (issue 17).
    ...((flags["kv-events-jetstream"] ?? runtime.eventPlane.backend === "nats")
      ? { jetStream: { maxAgeSeconds: flags["kv-events-stream-max-age"] } }
      : {}),
    zmq: {
      publishers: zmqPublishersFromFlags(values),
      fromDiscovery: flags["zmq-from-discovery"],
      topic: flags["zmq-topic"],
      replayTimeoutMs: Math.round(flags["zmq-replay-timeout"] * 1000),
    },
    ...(redisUrl
      ? {
          snapshot: {
            redisUrl,
            ...(flags["redis-password"] ? { redisPassword: flags["redis-password"] } : {}),
            ...(flags["redis-tls-ca-path"] ? { redisTlsCaPath: flags["redis-tls-ca-path"] } : {}),
            key: flags["snapshot-key"] ?? defaultSnapshotKey(runtime.namespace),
            intervalEvents: flags["snapshot-interval-events"],
            intervalSeconds: flags["snapshot-interval-seconds"],
          },
        }
      : {}),
    ...(systemPort === undefined ? {} : { systemPort }),
    ...(advertiseHost ? { advertiseHost } : {}),
  };
}

/** `kvasir indexer`: its flags, how they become an IndexerConfig, and how to start it. */
export const indexerCommand: Command<IndexerConfig> & { start(config: IndexerConfig): Promise<Indexer> } = {
  name: "indexer",
  summary: "Run the standalone KV indexer: consumes KV events, serves IndexerService.FindMatches.",
  flags: indexerFlags.specs,
  refused: indexerFlags.refused,
  toConfig: indexerConfigFromFlags,
  start,
};
