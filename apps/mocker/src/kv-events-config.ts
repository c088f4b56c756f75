// `--kv-events-config` as each engine reads it. vLLM: KVEventsConfig (vllm/config/kv_events.py), which publishes
// only with enable_kv_cache_events and publisher "zmq" (the default once enabled). SGLang: the ZMQ publisher config
// of srt/disaggregation/kv_events.py (pydantic, extra keys forbidden; publisher "null" unless set to "zmq").
import type { ZmqPublisherOptions } from "@kvasir/engine-wire";
import { z } from "zod";
import type { Protocol } from "./flags.js";

/** Where the engine publishes; its layout follows the protocol. */
export type KvEventsSettings = Omit<ZmqPublisherOptions, "layout">;

const common = {
  endpoint: z.string().default("tcp://*:5557"),
  replay_endpoint: z.string().nullable().default(null),
  buffer_steps: z.number().int().positive().default(10_000),
  hwm: z.number().int().positive().default(100_000),
  max_queue_size: z.number().int().positive().default(100_000),
  topic: z.string().default(""),
};

const vllmSchema = z
  .object({
    enable_kv_cache_events: z.boolean().default(false),
    publisher: z.enum(["null", "zmq"]).optional(),
    ...common,
  })
  .strict();

const sglangSchema = z
  .object({
    publisher: z.enum(["null", "zmq"]).default("null"),
    snapshot_endpoint: z.string().nullable().optional(),
    ...common,
  })
  .strict();

/** The publisher settings, or undefined when the config leaves publishing off. Throws with a usage message. */
export function parseKvEventsConfig(protocol: Protocol, json: string): KvEventsSettings | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new Error(
      `--kv-events-config is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const parsed = (protocol === "vllm" ? vllmSchema : sglangSchema).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `--kv-events-config: ${issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "invalid"}`,
    );
  }
  const config = parsed.data;
  const enabled =
    "enable_kv_cache_events" in config
      ? config.enable_kv_cache_events && (config.publisher ?? "zmq") === "zmq"
      : config.publisher === "zmq";
  if (!enabled) return undefined;
  return {
    endpoint: config.endpoint,
    ...(config.replay_endpoint ? { replayEndpoint: config.replay_endpoint } : {}),
    topic: config.topic,
    bufferSteps: config.buffer_steps,
  };
}
