import type { ZmqPublisherOptions } from "@kvasir/engine-wire";
import { DEFAULT_MOCKER_CONFIG, type MockerConfig } from "@kvasir/mocker";
import {
  advertiseFlags,
  defineFlags,
  drainFlags,
  FlagError,
  type FlagValues,
  type RefusedFlag,
  runtimeFlags,
  serverFlags,
  statusFlags,
} from "@kvasir/runtime";
import { modelFilesFlags } from "./model-files.js";
import { snapshotFlags } from "./snapshot/flags.js";

/** The mocker engine's flags, shared by `kvasir worker --backend mocker` and `kvasir serve`. */
/** The mocker's block size is @kvasir/kv's DEFAULT_KV_BLOCK_SIZE (the worker reaches kv only through the mocker). */
export const DEFAULT_KV_BLOCK_SIZE = DEFAULT_MOCKER_CONFIG.blockSize;

export const mockerFlags = defineFlags({
  "num-gpu-blocks": {
    type: "number",
    default: 16384,
    integer: true,
    positive: true,
    aliases: ["num-gpu-blocks-override"],
    help: "KV cache capacity in blocks per dp rank",
    dynamo: "--num-gpu-blocks-override (dynamo.mocker)",
  },
  "kv-cache-block-size": {
    type: "number",
    default: DEFAULT_KV_BLOCK_SIZE,
    integer: true,
    positive: true,
    aliases: ["block-size", "page-size"],
    help: "Tokens per KV block",
    dynamo: "--block-size (dynamo.mocker, dynamo.vllm), --page-size (dynamo.sglang)",
    differs: `Default ${DEFAULT_KV_BLOCK_SIZE}, Kvasir's one block-size default (vLLM's too); Dynamo's mocker defaults to 64`,
  },
  "max-num-seqs": {
    type: "number",
    default: 256,
    integer: true,
    positive: true,
    help: "Most requests running at once per dp rank",
    dynamo: true,
  },
  "max-num-batched-tokens": {
    type: "number",
    default: 8192,
    integer: true,
    positive: true,
    help: "Token budget of one engine step (prefill chunks plus decodes)",
    dynamo: true,
  },
  "speedup-ratio": {
    type: "number",
    default: 1,
    positive: true,
    help: "Divides every simulated time (10 = ten times faster)",
    dynamo: true,
    differs: "Must be above 0 (Dynamo's mocker reads 0 as no delay at all)",
  },
  "data-parallel-size": {
    type: "number",
    default: 1,
    integer: true,
    positive: true,
    aliases: ["dp-size"],
    help: "Data-parallel ranks, each with its own KV cache",
    dynamo: "--data-parallel-size (dynamo.mocker, dynamo.vllm), --dp-size (dynamo.sglang)",
  },
  watermark: {
    type: "number",
    default: 0.01,
    min: 0,
    max: 1,
    help: "Fraction of KV blocks kept free when admitting",
    dynamo: true,
  },
  "enable-prefix-caching": {
    type: "boolean",
    default: true,
    help: "Reuse cached blocks of shared prefixes",
    dynamo: true,
  },
  "enable-chunked-prefill": {
    type: "boolean",
    default: true,
    help: "Split long prefills across steps",
    dynamo: true,
  },
  "context-length": {
    type: "number",
    default: 40960,
    integer: true,
    positive: true,
    aliases: ["max-model-len"],
    help: "Longest prompt the engine accepts, in tokens",
    dynamo: "--max-model-len (dynamo.vllm), --context-length (dynamo.sglang)",
  },
  "kv-bytes-per-token": {
    type: "number",
    default: DEFAULT_MOCKER_CONFIG.kvBytesPerToken,
    integer: true,
    positive: true,
    help: "KV cache bytes per token, what disaggregated serving moves from prefill to decode workers (default: Qwen3-0.6B's 28 layers x 8 KV heads x head dim 128 x 2 (K, V) x 2 bytes (bf16); docs/mocker.md)",
  },
  "random-output-len": {
    type: "number",
    default: 256,
    integer: true,
    min: 0,
    help: "Mean reply length in tokens: each reply ends with EOS at a length drawn from --random-output-len x [1 - r, 1 + r] (r: --random-range-ratio) unless the request sets ignore_eos; 0: replies run to max_tokens",
    differs:
      "Named after vLLM's and SGLang's benchmark flags for the same lengths; Dynamo's mocker never emits EOS, so its replies always run to max_tokens",
  },
  "random-range-ratio": {
    type: "number",
    default: 0.5,
    min: 0,
    max: 0.99,
    help: "Spread of reply lengths around --random-output-len (0: every reply has that length)",
    differs: "vLLM's benchmark flag of the same name, here for the mocker's reply lengths",
  },
  "embedding-dimensions": {
    type: "number",
    default: 1024,
    integer: true,
    positive: true,
    help: "Length of the unit vectors an embedding model (--model-type embedding) returns",
  },
  "perf-profile": {
    type: "string",
    help: "JSON performance profile (prefill_isl/prefill_ttft_ms, decode_* arrays) replacing the timing defaults",
    dynamo: "--planner-profile-data (dynamo.mocker)",
    differs: "A JSON file with the same arrays; Dynamo's mocker reads NPZ or a profiler results directory",
  },
});

export function mockerConfigFromFlags(
  values: FlagValues,
  profile?: MockerConfig["perfProfile"],
): Partial<MockerConfig> {
  const flags = mockerFlags.read(values);
  return {
    numGpuBlocks: flags["num-gpu-blocks"],
    blockSize: flags["kv-cache-block-size"],
    maxNumSeqs: flags["max-num-seqs"],
    maxNumBatchedTokens: flags["max-num-batched-tokens"],
    speedupRatio: flags["speedup-ratio"],
    dataParallelSize: flags["data-parallel-size"],
    watermark: flags.watermark,
    enablePrefixCaching: flags["enable-prefix-caching"],
    enableChunkedPrefill: flags["enable-chunked-prefill"],
    maxModelLen: flags["context-length"],
    kvBytesPerToken: flags["kv-bytes-per-token"],
    randomOutputLen: flags["random-output-len"],
    randomRangeRatio: flags["random-range-ratio"],
    embeddingDimensions: flags["embedding-dimensions"],
    ...(profile === undefined ? {} : { perfProfile: profile }),
  };
}

/** Name of the bundled tokenizer's model: what a worker serves when given no model at all. */
export const DEFAULT_MODEL_NAME = "Qwen/Qwen3-0.6B";

/** Flags of the worker app beyond the runtime's, the mocker's and the KV-event publisher's. */
export const workerFlags = defineFlags({
  backend: {
    type: "string",
    default: "mocker",
    choices: ["mocker", "vllm", "sglang"],
    help: "Engine behind the worker: the built-in mocker, or a vLLM or SGLang server (--engine-command or --engine-url; docs/engines.md)",
    differs:
      "Dynamo runs one module per engine (dynamo.vllm, dynamo.sglang, dynamo.trtllm, dynamo.mocker) with the engine in its own process; Kvasir drives vLLM and SGLang as servers over their HTTP API",
  },
  "model-name": {
    type: "string",
    help: `Served model name (default: --model-path when given, else ${DEFAULT_MODEL_NAME}, the bundled tokenizer's)`,
    dynamo: "--model-name (dynamo.mocker)",
  },
  "served-model-name": {
    type: "list",
    help: "Names the model answers to (first wins over --model-name; the rest are aliases)",
    dynamo: true,
  },
  "model-path": {
    type: "string",
    aliases: ["model"],
    help: "Directory with tokenizer.json and tokenizer_config.json (default: the bundled Qwen3 tokenizer)",
    dynamo: "--model-path (dynamo.sglang, dynamo.trtllm, dynamo.mocker), --model (dynamo.vllm)",
    differs:
      "Also a Hugging Face id or s3:// URL, fetched into the local Hugging Face cache (through --model-express-url when given) before the worker registers",
  },
  "model-type": {
    type: "string",
    default: "chat",
    choices: ["chat", "embedding"],
    help: "What the model serves: chat and completions, or embeddings (/v1/embeddings)",
    differs: "Dynamo's workers take the type from the engine's model; the mocker has none, so it is a flag",
  },
  "disaggregation-mode": {
    type: "string",
    default: "agg",
    choices: ["agg", "prefill", "decode"],
    help: "Serve whole requests (agg), or one side of disaggregated serving",
    dynamo: true,
  },
  ...serverFlags.defs,
  ...statusFlags.defs,
  ...advertiseFlags.defs,
  ...drainFlags.defs,
});

/** How a prefill or decode worker moves KV blocks (the mocker moves real bytes with Kvasir's transfer engine). */
export const kvTransferFlags = defineFlags({
  "disaggregation-transfer-backend": {
    type: "string",
    choices: ["nixl", "mooncake"],
    help: "Accepted for Dynamo and SGLang command lines; Kvasir's mocker always moves KV with its native transfer engine (shared memory on one host, TCP across hosts)",
    dynamo: true,
    differs:
      "No effect: there is no NIXL or Mooncake in Kvasir; either name maps onto the native transfer engine (native/), which has no RDMA",
  },
  "kv-transfer-lease": {
    type: "number",
    default: 30,
    positive: true,
    help: "Seconds a prefill worker holds a finished prefill's KV blocks for its decode worker before freeing them anyway",
    dynamo: "kv_lease_duration (vLLM's NixlConnector kv_connector_extra_config)",
    differs:
      "A worker flag in seconds (same 30 s default) instead of a key of vLLM's --kv-transfer-config JSON",
  },
  "kv-transfer-max-held-mb": {
    type: "number",
    default: 8192,
    integer: true,
    positive: true,
    help: "MiB of KV a prefill worker holds for decode workers at most (finished prefills plus running ones); beyond it prefills are refused (ResourceExhausted) and go to another worker or prefill on the decode worker",
  },
  "kv-transfer-timeout": {
    type: "number",
    default: 30,
    positive: true,
    help: "Seconds a decode worker waits for a KV pull before it recomputes the prefill itself",
  },
});

export interface KvTransferConfig {
  leaseSeconds: number;
  timeoutSeconds: number;
  /** Most KV bytes a prefill worker holds at once. */
  maxHeldBytes?: number;
}

export function kvTransferConfigFromFlags(values: FlagValues): KvTransferConfig {
  const flags = kvTransferFlags.read(values);
  return {
    leaseSeconds: flags["kv-transfer-lease"],
    timeoutSeconds: flags["kv-transfer-timeout"],
    maxHeldBytes: flags["kv-transfer-max-held-mb"] * 2 ** 20,
  };
}

/** A real engine behind the worker (`--backend vllm|sglang`): how it is started or reached, and kept running. */
export const engineFlags = defineFlags({
  "engine-command": {
    type: "string",
    help: 'Command that starts the engine, e.g. "vllm serve Qwen/Qwen3-0.6B" or "python -m sglang.launch_server --model-path Qwen/Qwen3-0.6B"; the worker adds --port, --host, --kv-events-config, the block size and the disaggregation settings the command leaves out, and runs it as its child',
    differs:
      "Dynamo runs the engine inside its worker process and takes the engine's own flags; Kvasir runs the engine's server as a child process",
  },
  "engine-url": {
    type: "string",
    help: "Base URL of a running vLLM or SGLang server to drive instead of starting one (give its --kv-events-config too, for KV events)",
  },
  "engine-api": {
    type: "string",
    default: "auto",
    choices: ["auto", "generate", "completions"],
    help: "vLLM: tokens in/out over /inference/v1/generate, or /v1/completions with a token-id prompt; auto uses generate when the engine serves it",
  },
  "engine-ready-timeout": {
    type: "number",
    default: 1800,
    positive: true,
    help: "Seconds to wait for the engine's /health before giving up (model download and load included)",
  },
  "engine-restart": {
    type: "string",
    default: "never",
    choices: ["never", "on-failure"],
    help: "What the worker does when its engine dies: deregister and exit (never), or deregister, restart the engine and register again (on-failure)",
    differs: "Dynamo's workers exit with their engine; never is the same",
  },
  "engine-max-restarts": {
    type: "number",
    default: 3,
    integer: true,
    min: 0,
    help: "Engine restarts allowed (--engine-restart on-failure) before the worker gives up and exits",
  },
  "engine-restart-backoff": {
    type: "number",
    default: 1,
    min: 0,
    help: "Seconds before the first engine restart; doubles with each further one",
  },
  "engine-metrics-interval": {
    type: "number",
    default: 500,
    integer: true,
    positive: true,
    help: "Milliseconds between scrapes of the engine's /metrics (load published as LoadMetrics)",
  },
  "engine-kill-timeout": {
    type: "number",
    default: 10,
    positive: true,
    help: "Seconds between SIGTERM and SIGKILL when the worker stops its engine",
  },
  "kv-events-config": {
    type: "string",
    help: "vLLM's/SGLang's KVEventsConfig JSON for the engine (passed on unless --engine-command has its own); default: ZMQ publisher on free ports with a replay socket. With --engine-url: where the running engine publishes",
    dynamo: true,
    differs: "Only for --backend vllm|sglang; the mocker publishes with --kv-events-publisher",
  },
});

export interface HttpBackendFlags {
  engineCommand?: string;
  engineUrl?: string;
  api: "auto" | "generate" | "completions";
  readyTimeoutMs: number;
  restart: { policy: "never" | "on-failure"; maxRestarts: number; backoffMs: number };
  metricsIntervalMs: number;
  killGraceMs: number;
  kvEventsConfig?: Record<string, unknown>;
}

/** The engine flags of `--backend vllm|sglang`; usage errors as FlagError. */
export function httpBackendFromFlags(
  values: FlagValues,
  backend: string,
  /** `--restore-from`: the engine comes from a checkpoint; `--engine-command`, if given, is the cold fallback. */
  restoring = false,
): HttpBackendFlags | undefined {
  const flags = engineFlags.read(values);
  const command = flags["engine-command"];
  const url = flags["engine-url"];
  const kvEvents = flags["kv-events-config"];
  if (backend === "mocker") {
    const given = [
      ["engine-command", command],
      ["engine-url", url],
      ["kv-events-config", kvEvents],
    ].find(([, v]) => v !== undefined);
    if (given)
      throw new FlagError(
        `--${given[0]} needs --backend vllm or sglang; the mocker publishes vLLM-style KV events with --kv-events-publisher zmq`,
      );
    return undefined;
  }
  if (restoring && url !== undefined)
    throw new FlagError(
      "--restore-from restores the engine; --engine-url attaches to another one: give one of them",
    );
  if (!restoring && (command === undefined) === (url === undefined))
    throw new FlagError(`--backend ${backend} needs exactly one of --engine-command and --engine-url`);
  let kvEventsConfig: Record<string, unknown> | undefined;
  if (kvEvents !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(kvEvents);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new FlagError("--kv-events-config must be a JSON object");
    kvEventsConfig = Object.fromEntries(Object.entries(parsed));
  }
  if (url !== undefined && !/^https?:\/\//.test(url))
    throw new FlagError(`--engine-url ${url}: an http:// or https:// URL`);
  return {
    ...(command === undefined ? {} : { engineCommand: command }),
    ...(url === undefined ? {} : { engineUrl: url }),
    api: flags["engine-api"],
    readyTimeoutMs: flags["engine-ready-timeout"] * 1000,
    restart: {
      policy: flags["engine-restart"],
      maxRestarts: flags["engine-max-restarts"],
      backoffMs: flags["engine-restart-backoff"] * 1000,
    },
    metricsIntervalMs: flags["engine-metrics-interval"],
    killGraceMs: flags["engine-kill-timeout"] * 1000,
    ...(kvEventsConfig ? { kvEventsConfig } : {}),
  };
}

/** Where KV events go: the event plane, or vLLM-style ZMQ PUB sockets with a replay ROUTER. */
export const kvEventsPublisherFlags = defineFlags({
  "kv-events-publisher": {
    type: "string",
    default: "nats",
    choices: ["nats", "zmq"],
    help: "Publish KV events on the event plane (nats) or as vLLM does over ZMQ (zmq)",
  },
  "zmq-endpoint": {
    type: "string",
    default: "tcp://127.0.0.1:0",
    help: "ZMQ PUB endpoint of dp rank 0 (rank r uses port+r); binds when it has * or :: or port 0 or is ipc/inproc, else connects",
  },
  "zmq-replay-endpoint": {
    type: "string",
    default: "tcp://127.0.0.1:0",
    help: "ZMQ ROUTER endpoint that replays buffered batches (empty string: no replay)",
  },
  "zmq-topic": { type: "string", default: "kv-events", help: "Topic frame of every ZMQ KV event message" },
  "zmq-buffer-steps": {
    type: "number",
    default: 10000,
    integer: true,
    positive: true,
    help: "Batches kept per dp rank for replay",
  },
});

export function zmqPublisherFromFlags(values: FlagValues): ZmqPublisherOptions | undefined {
  const flags = kvEventsPublisherFlags.read(values);
  if (flags["kv-events-publisher"] !== "zmq") return undefined;
  const replay = flags["zmq-replay-endpoint"];
  return {
    endpoint: flags["zmq-endpoint"],
    ...(replay === "" ? {} : { replayEndpoint: replay }),
    topic: flags["zmq-topic"],
    bufferSteps: flags["zmq-buffer-steps"],
  };
}

const engineOnly = (what: string): string =>
  `${what} is a GPU engine setting the mocker cannot honour; with --backend vllm|sglang give it in --engine-command`;

/** Dynamo worker flags (dynamo.vllm, dynamo.sglang, dynamo.trtllm, dynamo.mocker) `kvasir worker` does not take. */
export const workerRefusedFlags: RefusedFlag[] = [
  { name: "is-prefill-worker", message: "use --disaggregation-mode prefill" },
  {
    name: "dyn-tool-call-parser",
    message: "Kvasir parses tool calls on the frontend: give --dyn-tool-call-parser to `kvasir frontend`",
  },
  {
    name: "dyn-reasoning-parser",
    message: "Kvasir parses reasoning on the frontend: give --dyn-reasoning-parser to `kvasir frontend`",
  },
  { name: "is-decode-worker", message: "use --disaggregation-mode decode" },
  { name: "publish-events-and-metrics", message: "Kvasir workers always publish KV events and load metrics" },
  {
    name: "endpoint",
    message: "the worker's namespace is --namespace and its component follows --disaggregation-mode",
  },
  {
    name: "planner-profile-data",
    message: "use --perf-profile with a JSON file of the same arrays (NPZ input is not read)",
  },
  { name: "num-workers", message: "use `kvasir serve --workers N`, or start one `kvasir worker` per worker" },
  {
    name: "load-format",
    message:
      "Kvasir has no mx or GPU Memory Service load formats; --model-express-url fetches the model's files through model-express",
  },
  { name: "tensor-parallel-size", message: engineOnly("tensor parallelism") },
  { name: "tensor-parallelism", message: engineOnly("tensor parallelism") },
  { name: "tp-size", message: engineOnly("tensor parallelism") },
  { name: "tp", message: engineOnly("tensor parallelism") },
  { name: "enable-dp-attention", message: engineOnly("data-parallel attention") },
  { name: "dist-init-addr", message: engineOnly("a multi-node engine rendezvous") },
  { name: "nnodes", message: engineOnly("a multi-node engine") },
  { name: "node-rank", message: engineOnly("a multi-node engine") },
  { name: "pipeline-parallel-size", message: engineOnly("pipeline parallelism") },
  { name: "gpu-memory-utilization", message: engineOnly("GPU memory utilization") },
  { name: "kv-cache-dtype", message: engineOnly("the KV cache dtype") },
  { name: "enforce-eager", message: engineOnly("eager mode (no CUDA graphs)") },
];

/** Every flag of `kvasir worker`. */
export const workerCommandFlags = defineFlags(
  {
    ...runtimeFlags.defs,
    ...workerFlags.defs,
    ...kvTransferFlags.defs,
    ...kvEventsPublisherFlags.defs,
    ...mockerFlags.defs,
    ...modelFilesFlags.defs,
    ...engineFlags.defs,
    ...snapshotFlags.defs,
  },
  workerRefusedFlags,
);
