import { DEFAULT_KV_BLOCK_SIZE } from "@kvasir/kv";
import {
  REASONING_PARSERS,
  type ReasoningParserName,
  TOOL_CALL_PARSERS,
  type ToolCallParserName,
} from "@kvasir/llm";
import {
  advertiseFlags,
  advertiseHostFromFlags,
  defineFlags,
  drainFlags,
  type FlagValues,
  type RuntimeConfig,
  runtimeConfigFromFlags,
  runtimeFlags,
  statusFlags,
  systemPortFromFlags,
} from "@kvasir/runtime";
import { type BusyThresholds, disaggregationFlags, type RouterMode, routerModes } from "@kvasir/serving";
import { type KvRoutingConfig, kvRoutingConfigFromFlags, kvRoutingFlags } from "./kv-routing.js";
import { frontendModelFilesFlags } from "./model-files.js";
import { multiProcessConfig } from "./num-processes.js";

export interface FrontendConfig {
  runtime: RuntimeConfig;
  httpHost: string;
  httpPort: number;
  routerMode: RouterMode;
  /** Tokenizer directory used instead of every card's tokenizerPath. */
  modelPath?: string;
  /** model-express server for tokenizer files not on this host (`--model-express-url`, MODEL_EXPRESS_URL). */
  modelExpressUrl?: string;
  /** Whole-request limit in seconds; past it the client gets 504 (or an error event once streaming). */
  requestTimeoutSeconds: number;
  maxBodyBytes: number;
  /** Seconds from a request's headers to its body's last byte; past it the client gets 408 (default 30). */
  bodyReadTimeoutSeconds?: number;
  /** Times a request may move to another worker after its first token. */
  migrationLimit: number;
  /** Seconds `stop()` lets in-flight streams finish. */
  drainTimeoutSeconds: number;
  /** Load shedding: new requests get 503 while every worker is above these (Dynamo's thresholds). */
  busyThresholds: BusyThresholds;
  /** `--router-mode kv` settings (Dynamo's router flags); their defaults when absent. */
  kvRouting?: KvRoutingConfig;
  /** Splits `<think>` blocks into `reasoning_content` (Dynamo's --dyn-reasoning-parser). */
  reasoningParser?: ReasoningParserName;
  /** Extracts tool calls from chat output (Dynamo's --dyn-tool-call-parser). */
  toolCallParser?: ToolCallParserName;
  /** Address registered in discovery for peers to reach this process (`--advertise-host`); a wildcard bind advertises the host's primary address when undefined. */
  advertiseHost?: string;
  /** Port of the status server (/health, /live, /metrics; `--system-port`); none when undefined. */
  systemPort?: number;
  /** Tokens per KV block for routing, overriding the workers' cards (Dynamo's `--kv-cache-block-size`). */
  blockSize?: number;
  /** Conditional disaggregation: prompts with at most this many uncached tokens are prefilled on the decode worker. */
  maxLocalPrefillLength: number;
  /** `--api-key`: the HTTP API requires one of these (Bearer token, or x-api-key on /v1/messages); open when absent. */
  apiKeys?: string[];
  /** `--num-processes`: frontend processes sharing the HTTP port (one when absent). */
  numProcesses?: number;
  /** `--cors-allowed-origins`: browser origins allowed to call the API (`*` for any); no CORS when absent. */
  corsAllowedOrigins?: string[];
  /** `--no-access-log` turns off the per-request log line (on when absent). */
  accessLog?: boolean;
  /** `--enable-streaming-tool-dispatch`: each tool call is streamed as soon as it is parsed, not at the end. */
  streamingToolDispatch?: boolean;
  /** `--tokenizer-threads`: threads for large prompts (0: none, all inline); a share of the cores when absent. */
  tokenizerThreads?: number;
  /** `--enable-anthropic-api`: serve /v1/messages and /v1/messages/count_tokens (off when absent). */
  enableAnthropicApi?: boolean;
  /** `--strip-anthropic-preamble`: drop Claude Code's billing header line from Anthropic system prompts. */
  stripAnthropicPreamble?: boolean;
  /** `--responses-store-size`/`--responses-store-ttl`: the Responses API's store (its defaults when absent). */
  responsesStore?: { maxEntries: number; ttlSeconds: number };
}

/** `kvasir frontend`'s own flags (the runtime's, status, drain and advertise fragments are composed in). */
export const frontendFlags = defineFlags(
  {
    ...runtimeFlags.defs,
    "http-host": {
      type: "string",
      default: "0.0.0.0",
      env: "DYN_HTTP_HOST",
      help: "Address the OpenAI-compatible HTTP server binds",
      dynamo: true,
    },
    "http-port": {
      type: "number",
      default: 8000,
      integer: true,
      min: 0,
      max: 65535,
      env: "DYN_HTTP_PORT",
      help: "Port of the OpenAI-compatible HTTP server (the API only; status is on --system-port)",
      dynamo: true,
    },
    ...statusFlags.defs,
    ...advertiseFlags.defs,
    "num-processes": {
      type: "number",
      default: 1,
      integer: true,
      positive: true,
      help: "Frontend processes serving the one HTTP port, to use more than one core (kvasir frontend only). Each registers its own frontend instance; /metrics on the HTTP port is one process's, and process i's status server is on --system-port + i so every process can be scraped. With --router-mode kv they share routing state by router replica sync (turned on, and needs --event-plane nats)",
    },
    "router-mode": {
      type: "string",
      default: "round-robin",
      choices: routerModes,
      env: "DYN_ROUTER_MODE",
      help: "How a worker is chosen for each request",
      dynamo: true,
      differs: "No device-aware-weighted or power-of-two mode yet (issue 18 covers routing cost models)",
    },
    "kv-cache-block-size": {
      type: "number",
      integer: true,
      positive: true,
      env: "DYN_KV_CACHE_BLOCK_SIZE",
      help: `Tokens per KV block used for routing, overriding the workers' model cards (default: each card's, else ${DEFAULT_KV_BLOCK_SIZE})`,
      dynamo: true,
    },
    "model-path": {
      type: "string",
      help: "Directory with tokenizer.json and tokenizer_config.json, overriding the workers' model cards",
      dynamo: true,
      differs:
        "Also a Hugging Face id or s3:// URL, whose tokenizer files are fetched into the local Hugging Face cache (through --model-express-url when given)",
    },
    "request-timeout": {
      type: "number",
      default: 600,
      positive: true,
      help: "Seconds a request may take before a 504",
    },
    "max-body-bytes": {
      type: "number",
      default: 8 * 1024 * 1024,
      integer: true,
      positive: true,
      help: "Largest request body accepted",
      dynamo: "DYN_HTTP_BODY_LIMIT_MB (env only)",
      differs: "In bytes, default 8 MiB (Dynamo: 192 MB): a chat request near the limit is already an abuse",
    },
    "body-read-timeout": {
      type: "number",
      default: 30,
      positive: true,
      help: "Seconds a client may take to send a request body before a 408 (a slow body holds a connection)",
    },
    "migration-limit": {
      type: "number",
      default: 3,
      integer: true,
      min: 0,
      env: "DYN_MIGRATION_LIMIT",
      help: "Times a request moves to another worker when its worker fails mid-stream (0 turns migration off)",
      dynamo: true,
      differs:
        "Default 3 (Dynamo: 0, off): a worker lost mid-stream should not fail requests that another worker can continue",
    },
    "dyn-reasoning-parser": {
      type: "string",
      choices: REASONING_PARSERS,
      help: "Split reasoning blocks out of chat output into reasoning_content",
      dynamo: true,
      differs: "Taken by the frontend (Dynamo: by the workers); not yet minimax_append_think",
    },
    "dyn-tool-call-parser": {
      type: "string",
      choices: TOOL_CALL_PARSERS,
      help: "Parse tool calls out of chat output into tool_calls",
      dynamo: true,
      differs:
        "Taken by the frontend (Dynamo: by the workers); not yet phi4, qwen3_coder, nemotron_nano, glm47, minimax_m2, gemma4, deepseek_v3_2/v4",
    },
    "enable-anthropic-api": {
      type: "boolean",
      default: false,
      env: "DYN_ENABLE_ANTHROPIC_API",
      help: "Serve the Anthropic Messages API (/v1/messages, /v1/messages/count_tokens)",
      dynamo: true,
    },
    "strip-anthropic-preamble": {
      type: "boolean",
      default: false,
      env: "DYN_STRIP_ANTHROPIC_PREAMBLE",
      help: "Drop Claude Code's per-session billing header line (x-anthropic-billing-header) from the start of Anthropic system prompts, so sessions share a cacheable prompt prefix",
      dynamo: true,
    },
    "responses-store-size": {
      type: "number",
      default: 1024,
      integer: true,
      min: 0,
      help: "Responses API: responses kept in memory for previous_response_id and GET /v1/responses/{id}, least recently used evicted first (per frontend process; 0 keeps none)",
    },
    "responses-store-ttl": {
      type: "number",
      default: 3600,
      positive: true,
      help: "Responses API: seconds a stored response is kept",
    },
    "active-decode-blocks-threshold": {
      type: "number",
      min: 0,
      max: 1,
      env: "DYN_ACTIVE_DECODE_BLOCKS_THRESHOLD",
      help: "Refuse new requests (503) while every worker uses more than this fraction (0-1) of its KV blocks",
      dynamo: true,
    },
    "active-prefill-tokens-threshold": {
      type: "number",
      min: 0,
      env: "DYN_ACTIVE_PREFILL_TOKENS_THRESHOLD",
      help: "Refuse new requests (503) while every worker has more than this many prompt tokens waiting for prefill",
      dynamo: true,
    },
    "api-key": {
      type: "list",
      env: ["KVASIR_API_KEY", "VLLM_API_KEY"],
      help: "Keys the HTTP API accepts (Authorization: Bearer <key>; x-api-key on /v1/messages), several allowed, as vLLM's --api-key; /health, /live and /metrics stay open. Open to anyone when unset",
    },
    "enable-streaming-tool-dispatch": {
      type: "boolean",
      default: false,
      help: "Stream each tool call to the client as soon as it is parsed, so agents can start running it while the model goes on (off: tool calls arrive with the last chunk)",
      dynamo: true,
    },
    "cors-allowed-origins": {
      type: "list",
      help: "Browser origins allowed to call the HTTP API cross-origin (CORS), several allowed; * allows any. No CORS headers when unset",
      differs: "vLLM's --allowed-origins, but off by default (vLLM: *)",
    },
    "access-log": {
      type: "boolean",
      default: true,
      help: "Log one line per HTTP request at info (method, path, status, duration, request id, model, tokens); /health, /live and /metrics at debug. --no-access-log turns it off",
    },
    "tokenizer-threads": {
      type: "number",
      integer: true,
      min: 0,
      help: "Threads that template and tokenize prompts over 16K characters, so one huge prompt does not stall other streams (default: this process's share of the cores less one, at least one; 0 tokenizes everything on the event loop)",
    },
    ...drainFlags.defs,
    ...kvRoutingFlags.defs,
    ...disaggregationFlags.defs,
    ...frontendModelFilesFlags.defs,
  },
  [...kvRoutingFlags.refused],
);

export function frontendConfigFromFlags(values: FlagValues): FrontendConfig {
  const flags = frontendFlags.read(values);
  const config: FrontendConfig = {
    runtime: runtimeConfigFromFlags(values),
    httpHost: flags["http-host"],
    httpPort: flags["http-port"],
    routerMode: flags["router-mode"],
    requestTimeoutSeconds: flags["request-timeout"],
    maxBodyBytes: flags["max-body-bytes"],
    bodyReadTimeoutSeconds: flags["body-read-timeout"],
    migrationLimit: flags["migration-limit"],
    drainTimeoutSeconds: flags["drain-timeout"],
    busyThresholds: {},
    kvRouting: kvRoutingConfigFromFlags(values),
    maxLocalPrefillLength: flags["max-local-prefill-length"],
    numProcesses: flags["num-processes"],
    enableAnthropicApi: flags["enable-anthropic-api"],
    stripAnthropicPreamble: flags["strip-anthropic-preamble"],
    responsesStore: { maxEntries: flags["responses-store-size"], ttlSeconds: flags["responses-store-ttl"] },
  };
  const blocks = flags["active-decode-blocks-threshold"];
  if (blocks !== undefined) config.busyThresholds.activeDecodeBlocks = blocks;
  const prefill = flags["active-prefill-tokens-threshold"];
  if (prefill !== undefined) config.busyThresholds.activePrefillTokens = prefill;
  if (flags["model-path"]) config.modelPath = flags["model-path"];
  if (flags["model-express-url"]) config.modelExpressUrl = flags["model-express-url"];
  const apiKeys = flags["api-key"].filter((key) => key !== "");
  if (apiKeys.length > 0) config.apiKeys = apiKeys;
  if (flags["dyn-reasoning-parser"]) config.reasoningParser = flags["dyn-reasoning-parser"];
  if (flags["dyn-tool-call-parser"]) config.toolCallParser = flags["dyn-tool-call-parser"];
  if (flags["enable-streaming-tool-dispatch"]) config.streamingToolDispatch = true;
  const origins = flags["cors-allowed-origins"].filter((origin) => origin !== "");
  if (origins.length > 0) config.corsAllowedOrigins = origins;
  if (!flags["access-log"]) config.accessLog = false;
  const tokenizerThreads = flags["tokenizer-threads"];
  if (tokenizerThreads !== undefined) config.tokenizerThreads = tokenizerThreads;
  if (flags["kv-cache-block-size"] !== undefined) config.blockSize = flags["kv-cache-block-size"];
  const advertiseHost = advertiseHostFromFlags(values);
  if (advertiseHost) config.advertiseHost = advertiseHost;
  const systemPort = systemPortFromFlags(values);
  if (systemPort !== undefined) config.systemPort = systemPort;
  return multiProcessConfig(config);
}
