import type { MockerConfig } from "@kvasir/mocker";
import type { FlagSpec } from "@kvasir/runtime";
import type { ZmqPublisherOptions } from "@kvasir/engine-wire";

/** The mocker engine's flags, shared by `kvasir worker --backend mocker` and `kvasir serve`. */
export const mockerFlags: FlagSpec[] = [
  { name: "num-gpu-blocks", type: "number", default: 16384, help: "KV cache capacity in blocks per dp rank" },
  { name: "kv-cache-block-size", type: "number", default: 16, help: "Tokens per KV block" },
  { name: "max-num-seqs", type: "number", default: 256, help: "Most requests running at once per dp rank" },
  {
    name: "max-num-batched-tokens",
    type: "number",
    default: 8192,
    help: "Token budget of one engine step (prefill chunks plus decodes)",
  },
  {
    name: "speedup-ratio",
    type: "number",
    default: 1,
    help: "Divides every simulated time (10 = ten times faster)",
  },
  {
    name: "data-parallel-size",
    type: "number",
    default: 1,
    help: "Data-parallel ranks, each with its own KV cache",
  },
  {
    name: "watermark",
    type: "number",
    default: 0.01,
    help: "Fraction of KV blocks kept free when admitting",
  },
  {
    name: "enable-prefix-caching",
    type: "boolean",
    default: true,
    help: "Reuse cached blocks of shared prefixes",
  },
  {
    name: "enable-chunked-prefill",
    type: "boolean",
    default: true,
    help: "Split long prefills across steps",
  },
  {
    name: "context-length",
    type: "number",
    default: 40960,
    help: "Longest prompt the engine accepts, in tokens",
  },
  {
    name: "perf-profile",
    type: "string",
    help: "JSON performance profile (prefill_isl/prefill_ttft_ms, decode_* arrays) replacing the timing defaults",
  },
];

export function mockerConfigFromFlags(
  values: Record<string, unknown>,
  profile?: unknown,
): Partial<MockerConfig> {
  return {
    numGpuBlocks: values["num-gpu-blocks"] as number,
    blockSize: values["kv-cache-block-size"] as number,
    maxNumSeqs: values["max-num-seqs"] as number,
    maxNumBatchedTokens: values["max-num-batched-tokens"] as number,
    speedupRatio: values["speedup-ratio"] as number,
    dataParallelSize: values["data-parallel-size"] as number,
    watermark: values.watermark as number,
    enablePrefixCaching: values["enable-prefix-caching"] as boolean,
    enableChunkedPrefill: values["enable-chunked-prefill"] as boolean,
    maxModelLen: values["context-length"] as number,
    ...(profile === undefined ? {} : { perfProfile: profile as MockerConfig["perfProfile"] }),
  };
}

/** Flags of the worker app beyond the runtime's and the mocker's. */
export const workerFlags: FlagSpec[] = [
  {
    name: "backend",
    type: "string",
    default: "mocker",
    choices: ["mocker"],
    help: "Engine behind the worker",
  },
  { name: "model-name", type: "string", default: "Qwen/Qwen3-0.6B", help: "Served model name" },
  {
    name: "served-model-name",
    type: "list",
    default: [],
    help: "Names the model answers to (first wins over --model-name; the rest are aliases)",
  },
  {
    name: "model-path",
    type: "string",
    help: "Directory with tokenizer.json and tokenizer_config.json (default: the bundled Qwen3 tokenizer)",
  },
  {
    name: "disaggregation-mode",
    type: "string",
    default: "agg",
    choices: ["agg", "prefill", "decode"],
    help: "Serve whole requests (agg), or one side of disaggregated serving",
  },
  { name: "host", type: "string", default: "127.0.0.1", help: "Address the Connect server binds" },
  { name: "port", type: "number", default: 0, help: "Port of the Connect server (0 picks a free one)" },
  {
    name: "system-port",
    type: "number",
    env: "DYN_SYSTEM_PORT",
    help: "Port of the HTTP status server with /health, /live and /metrics (off when unset)",
  },
  { name: "drain-timeout", type: "number", default: 30, help: "Seconds to let streams finish on SIGTERM" },
];

/** Where KV events go: the event plane, or vLLM-style ZMQ PUB sockets with a replay ROUTER. */
export const kvEventsPublisherFlags: FlagSpec[] = [
  {
    name: "kv-events-publisher",
    type: "string",
    default: "nats",
    choices: ["nats", "zmq"],
    help: "Publish KV events on the event plane (nats) or as vLLM does over ZMQ (zmq)",
  },
  {
    name: "zmq-endpoint",
    type: "string",
    default: "tcp://127.0.0.1:0",
    help: "ZMQ PUB endpoint of dp rank 0 (rank r uses port+r); binds when it has * or :: or port 0 or is ipc/inproc, else connects",
  },
  {
    name: "zmq-replay-endpoint",
    type: "string",
    default: "tcp://127.0.0.1:0",
    help: "ZMQ ROUTER endpoint that replays buffered batches (empty string: no replay)",
  },
  {
    name: "zmq-topic",
    type: "string",
    default: "kv-events",
    help: "Topic frame of every ZMQ KV event message",
  },
  { name: "zmq-buffer-steps", type: "number", default: 10000, help: "Batches kept per dp rank for replay" },
];

export function zmqPublisherFromFlags(values: Record<string, unknown>): ZmqPublisherOptions | undefined {
  if (values["kv-events-publisher"] !== "zmq") return undefined;
  const replay = values["zmq-replay-endpoint"] as string;
  return {
    endpoint: values["zmq-endpoint"] as string,
    ...(replay === "" ? {} : { replayEndpoint: replay }),
    topic: values["zmq-topic"] as string,
    bufferSteps: values["zmq-buffer-steps"] as number,
  };
}
