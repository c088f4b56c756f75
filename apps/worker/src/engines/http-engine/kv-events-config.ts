// vLLM's and SGLang's `--kv-events-config` JSON (FORMATS.md §2.1/§2.2): what the adapter gives an engine it starts,
// and where the worker subscribes to what it publishes. vLLM's KVEventsConfig (vllm/config/kv_events.py) publishes
// with `enable_kv_cache_events` (publisher "zmq" by default then); SGLang's (srt/disaggregation/kv_events.py) has
// no such key, refuses unknown ones, and publishes when `publisher` is "zmq" (default "null").
import { type EngineProtocol, offsetEndpoint } from "@kvasir/engine-wire";

/** The engine's publisher as the worker subscribes to it, one endpoint per data-parallel rank. */
export interface KvEventStreams {
  endpoints: string[];
  replayEndpoints?: string[];
  topic: string;
}

/** vLLM's defaults when the JSON leaves a field out (`vllm/config/kv_events.py`). */
const DEFAULT_ENDPOINT = "tcp://*:5557";

/** The JSON the adapter passes when the user gave none: events on, ZMQ, both sockets bound on the given ports. */
export function defaultKvEventsConfig(
  protocol: EngineProtocol,
  port: number,
  replayPort: number,
): Record<string, unknown> {
  return {
    ...(protocol === "vllm" ? { enable_kv_cache_events: true } : {}),
    publisher: "zmq",
    endpoint: `tcp://*:${port}`,
    replay_endpoint: `tcp://*:${replayPort}`,
    topic: "kv-events",
  };
}

/**
 * Where to subscribe to an engine publishing with `config`, reached at `host`: the engine binds wildcard
 * endpoints, so the subscriber connects to the same port on the engine's host. Undefined when the config turns
 * events off (or names a publisher other than ZMQ); rank r publishes on port+r, as in the engines.
 */
export function kvEventStreams(
  protocol: EngineProtocol,
  config: Record<string, unknown>,
  host: string,
  dataParallelSize: number,
): KvEventStreams | undefined {
  if (!publishes(protocol, config)) return undefined;
  const endpoint = typeof config.endpoint === "string" ? config.endpoint : DEFAULT_ENDPOINT;
  const replay = typeof config.replay_endpoint === "string" ? config.replay_endpoint : undefined;
  const topic = typeof config.topic === "string" ? config.topic : "";
  const ranks = Array.from({ length: dataParallelSize }, (_, rank) => rank);
  const reach = (e: string) => reachable(e, host);
  return {
    endpoints: ranks.map((rank) => offsetEndpoint(reach(endpoint), rank)),
    ...(replay ? { replayEndpoints: ranks.map((rank) => offsetEndpoint(reach(replay), rank)) } : {}),
    topic,
  };
}

/** Whether an engine with this config publishes KV events over ZMQ, by that engine's rules. */
export function publishes(protocol: EngineProtocol, config: Record<string, unknown>): boolean {
  if (protocol === "sglang") return config.publisher === "zmq";
  return config.enable_kv_cache_events === true && (config.publisher ?? "zmq") === "zmq";
}

/** A bound wildcard endpoint as a subscriber on another process reaches it. */
function reachable(endpoint: string, host: string): string {
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return endpoint.replace(/^tcp:\/\/(\*|0\.0\.0\.0|\[::\]|::)(?=:\d+$)/, `tcp://${h}`);
}
