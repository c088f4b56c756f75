// `kvasir mocker` flags: the subset of `vllm serve` and `python -m sglang.launch_server` flags that shape what an
// engine does, spelled as the engines spell them (vllm/engine/arg_utils.py, vllm/entrypoints/openai/cli_args.py;
// sglang/srt/server_args.py), plus the simulator's own timing flags. Flags the real engines take that only tune a
// GPU are accepted and ignored (listed in IGNORED_*); anything else is an error.
import { defineFlags } from "@kvasir/runtime";

export const PROTOCOLS = ["vllm", "sglang"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** Flags of both engines with the same spelling and meaning (defaults differ, so they have none here). */
const sharedFlags = {
  host: { type: "string", help: "Address to listen on (vLLM default 0.0.0.0, SGLang 127.0.0.1)" },
  port: {
    type: "number",
    integer: true,
    min: 0,
    max: 65535,
    help: "HTTP port (vLLM default 8000, SGLang 30000)",
  },
  "served-model-name": {
    type: "list",
    help: "Name(s) the model is served under (vLLM: several, the first is reported; default: the model)",
  },
  "kv-events-config": {
    type: "string",
    help: 'KVEventsConfig as JSON, e.g. \'{"enable_kv_cache_events":true,"publisher":"zmq","endpoint":"tcp://*:5557","replay_endpoint":"tcp://*:5558","topic":"kv-events"}\' (SGLang takes the same keys without enable_kv_cache_events)',
  },
  "data-parallel-size": {
    type: "number",
    integer: true,
    positive: true,
    aliases: ["dp-size"],
    help: "Data-parallel ranks, each with its own KV cache and KV event stream (port + rank)",
  },
} as const;

const vllmOnly = {
  model: { type: "string", help: "vLLM: model name or path (default Qwen/Qwen3-0.6B)" },
  "block-size": {
    type: "number",
    integer: true,
    positive: true,
    help: "vLLM: tokens per KV block (default 16)",
  },
  "max-num-seqs": {
    type: "number",
    integer: true,
    positive: true,
    help: "vLLM: most running requests (default 256)",
  },
  "max-num-batched-tokens": {
    type: "number",
    integer: true,
    positive: true,
    help: "vLLM: token budget of one scheduler step (default 8192)",
  },
  "max-model-len": {
    type: "number",
    integer: true,
    positive: true,
    help: "vLLM: context length (default 40960)",
  },
  "num-gpu-blocks-override": {
    type: "number",
    integer: true,
    positive: true,
    help: "vLLM: KV cache blocks per rank (default 16384)",
  },
  "enable-prefix-caching": {
    type: "boolean",
    help: "vLLM: reuse cached prefixes (default on; --no-enable-prefix-caching)",
  },
  "enable-chunked-prefill": { type: "boolean", help: "vLLM: split long prefills across steps (default on)" },
  "kv-transfer-config": {
    type: "string",
    help: 'vLLM: KVTransferConfig as JSON, e.g. \'{"kv_connector":"NixlConnector","kv_role":"kv_both"}\'; enables kv_transfer_params (prefill and decode roles per request)',
  },
  "lora-modules": {
    type: "list",
    help: "vLLM: LoRA adapters as name=path (or JSON with name); served as models",
  },
  "scheduling-policy": {
    type: "string",
    choices: ["fcfs", "priority"],
    help: "vLLM: fcfs (default; a request priority other than 0 is refused) or priority (lower value first)",
  },
} as const;

const sglangOnly = {
  "model-path": { type: "string", help: "SGLang: model name or path (default Qwen/Qwen3-0.6B)" },
  "page-size": {
    type: "number",
    integer: true,
    positive: true,
    help: "SGLang: tokens per KV page (default 1)",
  },
  "max-running-requests": {
    type: "number",
    integer: true,
    positive: true,
    help: "SGLang: most running requests",
  },
  "chunked-prefill-size": {
    type: "number",
    integer: true,
    help: "SGLang: most prompt tokens one step prefills (default 8192; -1 disables chunking)",
  },
  "context-length": {
    type: "number",
    integer: true,
    positive: true,
    help: "SGLang: context length (default 40960)",
  },
  "max-total-tokens": {
    type: "number",
    integer: true,
    positive: true,
    help: "SGLang: KV cache size in tokens per rank (default 16384 pages)",
  },
  "disable-radix-cache": { type: "boolean", help: "SGLang: no prefix cache (and no KV events)" },
  "disaggregation-mode": {
    type: "string",
    choices: ["null", "prefill", "decode"],
    help: "SGLang: PD disaggregation role; requests then need bootstrap_host/port/room",
  },
  "disaggregation-bootstrap-port": {
    type: "number",
    integer: true,
    min: 0,
    max: 65535,
    help: "SGLang: port of the prefill server's bootstrap server (default 8998)",
  },
  "lora-paths": { type: "list", help: "SGLang: LoRA adapters as name=path; the name goes in lora_path" },
  "enable-metrics": { type: "boolean", help: "SGLang: serve /metrics (off by default, as in SGLang)" },
  "incremental-streaming-output": {
    type: "boolean",
    help: "SGLang: streamed chunks carry only new text and ids (default: everything so far)",
  },
  "enable-priority-scheduling": { type: "boolean", help: "SGLang: admit by request priority (higher first)" },
} as const;

const simulatorOwn = {
  protocol: {
    type: "string",
    default: "vllm",
    choices: PROTOCOLS,
    help: "Which engine's HTTP API, metrics and KV event layout to speak",
  },
  "speedup-ratio": {
    type: "number",
    default: 1,
    positive: true,
    help: "Divides every simulated time (10 = ten times faster)",
    dynamo: "--speedup-ratio (dynamo.mocker)",
  },
  "perf-profile": {
    type: "string",
    help: "JSON performance profile (prefill_isl/prefill_ttft_ms, decode_* arrays) replacing the timing defaults (docs/mocker.md)",
  },
  "startup-delay-ms": {
    type: "number",
    default: 0,
    min: 0,
    help: "Simulated model loading: vLLM listens only after it, SGLang answers /health 503 until then",
  },
  "random-output-len": {
    type: "number",
    default: 0,
    integer: true,
    min: 0,
    help: "Mean reply length before an EOS token (ids --eos-token-id); 0: replies run to max_tokens or a stop token",
  },
  "eos-token-id": {
    type: "list",
    help: "The simulated model's EOS token ids (default Qwen3's 151645), never sampled except to end a reply",
  },
  "seed-base": { type: "number", default: 0, integer: true, help: "Engine seed of the simulated sampler" },
} as const;

/** GPU and runtime settings of `vllm serve` the simulator accepts and ignores (they do not change its behaviour). */
export const IGNORED_VLLM_VALUE_FLAGS = [
  "tensor-parallel-size",
  "pipeline-parallel-size",
  "gpu-memory-utilization",
  "dtype",
  "kv-cache-dtype",
  "quantization",
  "seed",
  "max-loras",
  "max-lora-rank",
  "max-cpu-loras",
  "tokenizer",
  "tokenizer-mode",
  "swap-space",
  "uvicorn-log-level",
  "tool-call-parser",
  "reasoning-parser",
  "generation-config",
  "compilation-config",
  "distributed-executor-backend",
  "api-key",
  "download-dir",
  "load-format",
  "revision",
] as const;
export const IGNORED_VLLM_SWITCHES = [
  "trust-remote-code",
  "enforce-eager",
  "enable-lora",
  "disable-log-requests",
  "disable-log-stats",
  "enable-log-requests",
  "enable-auto-tool-choice",
  "enable-prompt-tokens-details",
  "disable-uvicorn-access-log",
  "enable-expert-parallel",
] as const;
/** GPU and runtime settings of `sglang.launch_server` the simulator accepts and ignores. */
export const IGNORED_SGLANG_VALUE_FLAGS = [
  "tp-size",
  "pp-size",
  "mem-fraction-static",
  "dtype",
  "kv-cache-dtype",
  "quantization",
  "random-seed",
  "tokenizer-path",
  "log-level",
  "attention-backend",
  "cuda-graph-max-bs",
  "schedule-policy",
  "disaggregation-transfer-backend",
  "disaggregation-ib-device",
  "max-prefill-tokens",
  "tool-call-parser",
  "reasoning-parser",
  "max-loras-per-batch",
  "load-format",
  "revision",
  "api-key",
] as const;
export const IGNORED_SGLANG_SWITCHES = [
  "skip-server-warmup",
  "disable-cuda-graph",
  "enable-dp-attention",
  "enable-lora",
  "log-requests",
  "enable-cache-report",
  "skip-tokenizer-init",
] as const;

const ignoredDefs = (
  values: readonly string[],
  switches: readonly string[],
  engine: string,
): Record<string, { type: "string" | "boolean"; help: string }> => ({
  ...Object.fromEntries(
    values.map((name) => [
      name,
      { type: "string" as const, help: `${engine}: accepted and ignored (GPU setting)` },
    ]),
  ),
  ...Object.fromEntries(
    switches.map((name) => [
      name,
      { type: "boolean" as const, help: `${engine}: accepted and ignored (GPU setting)` },
    ]),
  ),
});

export const simulatorFlags = defineFlags({
  ...simulatorOwn,
  ...sharedFlags,
  ...vllmOnly,
  ...sglangOnly,
});

/** Every accepted-and-ignored flag, by engine; parsed alongside simulatorFlags. */
export const ignoredFlags = {
  vllm: ignoredDefs(IGNORED_VLLM_VALUE_FLAGS, IGNORED_VLLM_SWITCHES, "vLLM"),
  sglang: ignoredDefs(IGNORED_SGLANG_VALUE_FLAGS, IGNORED_SGLANG_SWITCHES, "SGLang"),
};

export const VLLM_ONLY_FLAGS: readonly string[] = Object.keys(vllmOnly);
export const SGLANG_ONLY_FLAGS: readonly string[] = Object.keys(sglangOnly);
