import { DEFAULT_KV_BLOCK_SIZE } from "@kvasir/kv";
import { advertiseFlags, defineFlags, runtimeFlags, serverFlags, statusFlags } from "@kvasir/runtime";

/** `kvasir indexer`'s flags: the runtime's, server, status, advertise, and its own. */
export const indexerFlags = defineFlags(
  {
    ...runtimeFlags.defs,
    ...serverFlags.defs,
    ...statusFlags.defs,
    ...advertiseFlags.defs,
    "kv-cache-block-size": {
      type: "number",
      default: DEFAULT_KV_BLOCK_SIZE,
      integer: true,
      positive: true,
      env: "DYN_KV_CACHE_BLOCK_SIZE",
      help: "Tokens per KV block; FindMatches hashes token ids with it",
      dynamo: true,
    },
    "indexer-backend": {
      type: "string",
      choices: ["ts", "native"],
      help: "Index implementation (default: native when its addon loads, else the TypeScript radix tree)",
    },
    "kv-events-component": {
      type: "list",
      default: ["backend", "prefill", "decode"],
      help: "Worker components whose KV events to consume from the event plane",
    },
    "kv-events-jetstream": {
      type: "boolean",
      help: "Read event-plane KV events through a JetStream stream (created if missing), so a restarted indexer replays what it missed (needs --event-plane nats; default: on with --event-plane nats, --no-kv-events-jetstream for core subscriptions)",
    },
    "kv-events-stream-max-age": {
      type: "number",
      default: 3600,
      positive: true,
      help: "Seconds the JetStream KV event stream keeps events",
    },
    "zmq-endpoint": {
      type: "list",
      help: "vLLM/SGLang ZMQ PUB endpoints to subscribe to (binds when it has * or ::, else connects)",
    },
    "zmq-worker-id": {
      type: "list",
      help: "Worker id of each --zmq-endpoint, in the same order (16 hex digits as Kvasir prints them, 0x-hex or decimal)",
    },
    "zmq-replay-endpoint": {
      type: "list",
      help: "Replay ROUTER endpoint of each --zmq-endpoint, in the same order ('-' for none)",
    },
    "zmq-from-discovery": {
      type: "boolean",
      default: false,
      help: "Also subscribe to the ZMQ KV event streams workers advertise in discovery (zmq_kv_events_endpoints), as their instance ids",
    },
    "zmq-topic": { type: "string", default: "", help: "Topic prefix to subscribe to ('' takes every topic)" },
    "zmq-replay-timeout": {
      type: "number",
      default: 2,
      positive: true,
      help: "Seconds to wait for an engine's replay to finish",
    },
    "redis-url": {
      type: "string",
      help: "Redis for snapshots (redis://host:port, rediss:// for TLS, redis://:password@host:port); no snapshots when unset",
    },
    "redis-password": {
      type: "string",
      env: ["KVASIR_REDIS_PASSWORD", "REDISCLI_AUTH"],
      help: "Password of the snapshot Redis (a password in --redis-url wins)",
    },
    "redis-tls-ca-path": {
      type: "string",
      env: "KVASIR_REDIS_TLS_CA_PATH",
      help: "CA certificate (PEM) that verifies the snapshot Redis; turns TLS on (as rediss:// does)",
    },
    "snapshot-key": {
      type: "string",
      help: "Redis key of this indexer's snapshot (default kvasir:{namespace}:indexer:snapshot)",
    },
    "snapshot-interval-events": {
      type: "number",
      default: 10000,
      integer: true,
      positive: true,
      help: "Snapshot after this many applied events",
    },
    "snapshot-interval-seconds": {
      type: "number",
      default: 30,
      positive: true,
      help: "Snapshot at least this often while events arrive",
    },
  },
  [
    {
      name: "http-port",
      message: "the status server (/health, /metrics) is on --system-port in every Kvasir app",
    },
  ],
);
