import type { FlagSpec } from "@kvasir/runtime";

/** Flags of `kvasir indexer` beyond the runtime's. */
export const indexerFlags: FlagSpec[] = [
  {
    name: "host",
    type: "string",
    default: "127.0.0.1",
    help: "Address the Connect server and /metrics bind",
  },
  {
    name: "port",
    type: "number",
    default: 0,
    help: "Port of the Connect server with IndexerService (0 picks a free one)",
  },
  {
    name: "http-port",
    type: "number",
    default: 0,
    help: "Port of the HTTP server with /metrics and /health (0 picks a free one)",
  },
  {
    name: "kv-cache-block-size",
    type: "number",
    default: 16,
    help: "Tokens per KV block; FindMatches hashes token ids with it",
  },
  {
    name: "indexer-backend",
    type: "string",
    choices: ["ts", "native"],
    help: "Index implementation (default: native when its addon loads, else the TypeScript radix tree)",
  },
  {
    name: "kv-events-component",
    type: "list",
    default: ["backend", "prefill", "decode"],
    help: "Worker components whose KV events to consume from the event plane",
  },
  {
    name: "kv-events-jetstream",
    type: "boolean",
    default: false,
    help: "Read event-plane KV events through a JetStream stream (created if missing), so a restarted indexer replays what it missed (needs --event-plane nats)",
  },
  {
    name: "kv-events-stream-max-age",
    type: "number",
    default: 3600,
    help: "Seconds the JetStream KV event stream keeps events",
  },
  {
    name: "zmq-endpoint",
    type: "list",
    default: [],
    help: "vLLM/SGLang ZMQ PUB endpoints to subscribe to (binds when it has * or ::, else connects)",
  },
  {
    name: "zmq-worker-id",
    type: "list",
    default: [],
    help: "Worker id of each --zmq-endpoint, in the same order (16 hex digits as Kvasir prints them, 0x-hex or decimal)",
  },
  {
    name: "zmq-replay-endpoint",
    type: "list",
    default: [],
    help: "Replay ROUTER endpoint of each --zmq-endpoint, in the same order ('-' for none)",
  },
  {
    name: "zmq-from-discovery",
    type: "boolean",
    default: false,
    help: "Also subscribe to the ZMQ KV event streams workers advertise in discovery (zmq_kv_events_endpoints), as their instance ids",
  },
  {
    name: "zmq-topic",
    type: "string",
    default: "",
    help: "Topic prefix to subscribe to ('' takes every topic)",
  },
  {
    name: "zmq-replay-timeout",
    type: "number",
    default: 2,
    help: "Seconds to wait for an engine's replay to finish",
  },
  {
    name: "redis-url",
    type: "string",
    help: "Redis for snapshots (redis://host:port); no snapshots when unset",
  },
  {
    name: "snapshot-key",
    type: "string",
    help: "Redis key of this indexer's snapshot (default kvasir:{namespace}:indexer:snapshot)",
  },
  {
    name: "snapshot-interval-events",
    type: "number",
    default: 10000,
    help: "Snapshot after this many applied events",
  },
  {
    name: "snapshot-interval-seconds",
    type: "number",
    default: 30,
    help: "Snapshot at least this often while events arrive",
  },
];
