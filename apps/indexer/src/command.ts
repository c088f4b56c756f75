import { type FlagSpec, type FlagValues, runtimeConfigFromFlags, runtimeFlags } from "@kvasir/runtime";
import { indexerFlags } from "./flags.js";
import { defaultSnapshotKey, type IndexerConfig, start, type ZmqPublisherConfig } from "./indexer.js";

/** A worker id as given on the command line: 16 hex digits (as Kvasir prints ids), 0x-prefixed hex, or decimal. */
export function parseWorkerId(text: string): bigint {
  const id = /^[0-9a-fA-F]{16}$/.test(text)
    ? BigInt(`0x${text}`)
    : /^(0x[0-9a-fA-F]+|\d+)$/.test(text)
      ? BigInt(text)
      : undefined;
  if (id === undefined || id >= 1n << 64n) throw new Error(`invalid worker id '${text}'`);
  return id;
}

/** Pairs --zmq-endpoint with --zmq-worker-id and --zmq-replay-endpoint by position. */
export function zmqPublishersFromFlags(values: FlagValues): ZmqPublisherConfig[] {
  const endpoints = values["zmq-endpoint"] as string[];
  const workerIds = values["zmq-worker-id"] as string[];
  const replays = values["zmq-replay-endpoint"] as string[];
  if (workerIds.length !== endpoints.length) {
    throw new Error(
      `each --zmq-endpoint needs a --zmq-worker-id (${endpoints.length} endpoints, ${workerIds.length} ids)`,
    );
  }
  if (replays.length > endpoints.length)
    throw new Error("more --zmq-replay-endpoint than --zmq-endpoint values");
  return endpoints.map((endpoint, i) => {
    const replay = replays[i];
    return {
      endpoint,
      workerId: parseWorkerId(workerIds[i] as string),
      ...(replay && replay !== "-" ? { replayEndpoint: replay } : {}),
    };
  });
}

/** `kvasir indexer`: its flags, how they become an IndexerConfig, and how to start it. */
export const indexerCommand = {
  name: "indexer",
  summary: "Run the standalone KV indexer: consumes KV events, serves IndexerService.FindMatches.",
  flags: [...runtimeFlags, ...indexerFlags] as FlagSpec[],
  toConfig(values: FlagValues): IndexerConfig {
    const runtime = runtimeConfigFromFlags(values);
    const backend = values["indexer-backend"] as "ts" | "native" | undefined;
    const redisUrl = values["redis-url"] as string | undefined;
    const blockSize = values["kv-cache-block-size"] as number;
    if (!Number.isInteger(blockSize) || blockSize < 1)
      throw new Error("--kv-cache-block-size must be a positive integer");
    return {
      runtime,
      host: values.host as string,
      port: values.port as number,
      systemPort: values["http-port"] as number,
      blockSize,
      ...(backend ? { backend } : {}),
      kvEventComponents: values["kv-events-component"] as string[],
      ...(values["kv-events-jetstream"] === true
        ? { jetStream: { maxAgeSeconds: values["kv-events-stream-max-age"] as number } }
        : {}),
      zmq: {
        publishers: zmqPublishersFromFlags(values),
        fromDiscovery: values["zmq-from-discovery"] === true,
        topic: values["zmq-topic"] as string,
        replayTimeoutMs: Math.round((values["zmq-replay-timeout"] as number) * 1000),
      },
      ...(redisUrl
        ? {
            snapshot: {
              redisUrl,
              key: (values["snapshot-key"] as string | undefined) ?? defaultSnapshotKey(runtime.namespace),
              intervalEvents: values["snapshot-interval-events"] as number,
              intervalSeconds: values["snapshot-interval-seconds"] as number,
            },
          }
        : {}),
    };
  },
  start,
};
