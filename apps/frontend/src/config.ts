import {
  REASONING_PARSERS,
  type ReasoningParserName,
  TOOL_CALL_PARSERS,
  type ToolCallParserName,
} from "@kvasir/llm";
import { type FlagSpec, type RuntimeConfig, runtimeConfigFromFlags } from "@kvasir/runtime";
import { type KvRoutingConfig, kvRoutingConfigFromFlags, kvRoutingFlags } from "./kv-routing.js";
import type { BusyThresholds } from "./load-tracker.js";
import { type RouterMode, routerModes } from "./route-request.js";

export interface FrontendConfig {
  runtime: RuntimeConfig;
  httpHost: string;
  httpPort: number;
  routerMode: RouterMode;
  /** Tokenizer directory used instead of every card's tokenizerPath. */
  modelPath?: string;
  /** Whole-request limit in seconds; past it the client gets 504 (or an error event once streaming). */
  requestTimeoutSeconds: number;
  maxBodyBytes: number;
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
}

export const frontendFlags: FlagSpec[] = [
  {
    name: "http-host",
    type: "string",
    default: "0.0.0.0",
    env: "DYN_HTTP_HOST",
    help: "Address the HTTP server binds",
  },
  { name: "http-port", type: "number", default: 8000, env: "DYN_HTTP_PORT", help: "Port of the HTTP server" },
  {
    name: "router-mode",
    type: "string",
    default: "round-robin",
    choices: [...routerModes],
    help: "How a worker is chosen for each request",
  },
  {
    name: "model-path",
    type: "string",
    help: "Directory with tokenizer.json and tokenizer_config.json, overriding the workers' model cards",
  },
  { name: "request-timeout", type: "number", default: 600, help: "Seconds a request may take before a 504" },
  { name: "max-body-bytes", type: "number", default: 8 * 1024 * 1024, help: "Largest request body accepted" },
  {
    name: "migration-limit",
    type: "number",
    default: 3,
    help: "Times a request moves to another worker when its worker fails mid-stream (0 turns migration off)",
  },
  {
    name: "dyn-reasoning-parser",
    type: "string",
    choices: [...REASONING_PARSERS],
    help: "Split reasoning blocks out of chat output into reasoning_content",
  },
  {
    name: "dyn-tool-call-parser",
    type: "string",
    choices: [...TOOL_CALL_PARSERS],
    help: "Parse tool calls out of chat output into tool_calls",
  },
  {
    name: "active-decode-blocks-threshold",
    type: "number",
    help: "Refuse new requests (503) while every worker uses more than this fraction (0-1) of its KV blocks",
  },
  {
    name: "active-prefill-tokens-threshold",
    type: "number",
    help: "Refuse new requests (503) while every worker has more than this many prompt tokens waiting for prefill",
  },
  { name: "drain-timeout", type: "number", default: 30, help: "Seconds to let streams finish on SIGTERM" },
  ...kvRoutingFlags,
];

export function frontendConfigFromFlags(values: Record<string, unknown>): FrontendConfig {
  const config: FrontendConfig = {
    runtime: runtimeConfigFromFlags(values),
    httpHost: values["http-host"] as string,
    httpPort: values["http-port"] as number,
    routerMode: values["router-mode"] as RouterMode,
    requestTimeoutSeconds: values["request-timeout"] as number,
    maxBodyBytes: values["max-body-bytes"] as number,
    migrationLimit: values["migration-limit"] as number,
    drainTimeoutSeconds: values["drain-timeout"] as number,
    busyThresholds: {},
    kvRouting: kvRoutingConfigFromFlags(values),
  };
  const blocks = values["active-decode-blocks-threshold"] as number | undefined;
  if (blocks !== undefined) config.busyThresholds.activeDecodeBlocks = blocks;
  const prefill = values["active-prefill-tokens-threshold"] as number | undefined;
  if (prefill !== undefined) config.busyThresholds.activePrefillTokens = prefill;
  const modelPath = values["model-path"] as string | undefined;
  if (modelPath) config.modelPath = modelPath;
  const reasoningParser = values["dyn-reasoning-parser"] as ReasoningParserName | undefined;
  if (reasoningParser) config.reasoningParser = reasoningParser;
  const toolCallParser = values["dyn-tool-call-parser"] as ToolCallParserName | undefined;
  if (toolCallParser) config.toolCallParser = toolCallParser;
  return config;
}
