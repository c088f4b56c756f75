// From parsed flags to the simulator's config: the protocol's defaults (vLLM's or SGLang's), the MockEngine
// settings they amount to, and refusals of the other engine's flags.
import { readFileSync } from "node:fs";
import type { MockerConfigInput } from "@kvasir/mocker";
import { parsePerfProfile } from "@kvasir/protocol";
import { FlagError, type FlagValues } from "@kvasir/runtime";
import { ignoredFlags, type Protocol, SGLANG_ONLY_FLAGS, simulatorFlags, VLLM_ONLY_FLAGS } from "./flags.js";
import { type KvEventsSettings, parseKvEventsConfig } from "./kv-events-config.js";

export const DEFAULT_MODEL = "Qwen/Qwen3-0.6B";
/** Qwen3's `<|im_end|>`, the default model's EOS. */
export const DEFAULT_EOS_TOKEN_ID = 151645;

export type DisaggregationMode = "null" | "prefill" | "decode";

export interface SimulatorConfig {
  protocol: Protocol;
  host: string;
  port: number;
  /** Model path as given (`--model` / `--model-path`). */
  model: string;
  /** Name requests must use (first `--served-model-name`, else the model). */
  servedModelName: string;
  /** LoRA adapter names (`--lora-modules` / `--lora-paths`). */
  loras: string[];
  engine: MockerConfigInput;
  kvEvents?: KvEventsSettings;
  /** vLLM: `--kv-transfer-config` given (NixlConnector semantics for kv_transfer_params). */
  kvTransfer?: { connector: string; role: string };
  /** SGLang: `--disaggregation-mode`. */
  disaggregationMode: DisaggregationMode;
  bootstrapPort: number;
  /** vLLM `--scheduling-policy priority` / SGLang `--enable-priority-scheduling`. */
  priorityScheduling: boolean;
  /** SGLang serves /metrics only with --enable-metrics; vLLM always. */
  metrics: boolean;
  /** SGLang --incremental-streaming-output. */
  incrementalStreaming: boolean;
  startupDelayMs: number;
  /** Extra flags of the real engine that were accepted and ignored (logged at start). */
  ignored: string[];
}

function given(values: FlagValues, names: readonly string[]): string[] {
  // Lists read as [] when absent.
  return names.filter((name) => {
    const value = values[name];
    return value !== undefined && !(Array.isArray(value) && value.length === 0);
  });
}

function parseKvTransfer(json: string): { connector: string; role: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new FlagError(
      `--kv-transfer-config is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (
    typeof raw !== "object" ||
    raw === null ||
    !("kv_connector" in raw) ||
    typeof raw.kv_connector !== "string"
  ) {
    throw new FlagError("--kv-transfer-config needs a kv_connector (e.g. NixlConnector)");
  }
  const role = "kv_role" in raw && typeof raw.kv_role === "string" ? raw.kv_role : "kv_both";
  if (!["kv_both", "kv_producer", "kv_consumer"].includes(role)) {
    throw new FlagError(
      `--kv-transfer-config kv_role must be kv_both, kv_producer or kv_consumer, got ${role}`,
    );
  }
  return { connector: raw.kv_connector, role };
}

/** LoRA names from `name=path` items (vLLM also takes a JSON object with `name`). */
function loraNames(items: readonly string[]): string[] {
  return items.map((item) => {
    if (item.startsWith("{")) {
      const parsed: unknown = JSON.parse(item);
      if (
        typeof parsed === "object" &&
        parsed !== null &&
        "name" in parsed &&
        typeof parsed.name === "string"
      )
        return parsed.name;
      throw new FlagError(`LoRA module ${item} has no name`);
    }
    const eq = item.indexOf("=");
    return eq === -1 ? item : item.slice(0, eq);
  });
}

export function simulatorConfigFromFlags(values: FlagValues): SimulatorConfig {
  const flags = simulatorFlags.read(values);
  const protocol = flags.protocol;
  const vllm = protocol === "vllm";
  const wrong = given(values, vllm ? SGLANG_ONLY_FLAGS : VLLM_ONLY_FLAGS);
  const wrongIgnored = given(values, Object.keys(vllm ? ignoredFlags.sglang : ignoredFlags.vllm)).filter(
    (name) => !(name in (vllm ? ignoredFlags.vllm : ignoredFlags.sglang)),
  );
  const bad = [...wrong, ...wrongIgnored];
  if (bad.length > 0) {
    throw new FlagError(
      `${bad.map((n) => `--${n}`).join(", ")} ${bad.length === 1 ? "is not a" : "are not"} ${vllm ? "vLLM" : "SGLang"} flag${bad.length === 1 ? "" : "s"} (--protocol ${protocol})`,
    );
  }
  const ignored = given(values, Object.keys(vllm ? ignoredFlags.vllm : ignoredFlags.sglang));
  const model = (vllm ? flags.model : flags["model-path"]) ?? DEFAULT_MODEL;
  const servedModelName = flags["served-model-name"][0] ?? model;
  const blockSize = (vllm ? flags["block-size"] : flags["page-size"]) ?? (vllm ? 16 : 1);
  const chunked = flags["chunked-prefill-size"];
  const maxModelLen = (vllm ? flags["max-model-len"] : flags["context-length"]) ?? 40960;
  const totalTokens = flags["max-total-tokens"];
  const numGpuBlocks = vllm
    ? flags["num-gpu-blocks-override"]
    : totalTokens === undefined
      ? undefined
      : Math.max(1, Math.floor(totalTokens / blockSize));
  let perfProfile: MockerConfigInput["perfProfile"];
  const profilePath = flags["perf-profile"];
  if (profilePath !== undefined) {
    try {
      perfProfile = parsePerfProfile(JSON.parse(readFileSync(profilePath, "utf8")));
    } catch (error) {
      throw new FlagError(
        `--perf-profile ${profilePath}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  const eos = flags["eos-token-id"].map(Number);
  if (eos.some((id) => !Number.isInteger(id) || id < 0))
    throw new FlagError("--eos-token-id takes token ids");
  const engine: MockerConfigInput = {
    blockSize,
    maxModelLen,
    maxNumSeqs: (vllm ? flags["max-num-seqs"] : flags["max-running-requests"]) ?? 256,
    maxNumBatchedTokens:
      (vllm ? flags["max-num-batched-tokens"] : chunked !== undefined && chunked > 0 ? chunked : undefined) ??
      (chunked === -1 ? Math.max(8192, maxModelLen) : 8192),
    enableChunkedPrefill: vllm ? (flags["enable-chunked-prefill"] ?? true) : chunked !== -1,
    enablePrefixCaching: vllm
      ? (flags["enable-prefix-caching"] ?? true)
      : !(flags["disable-radix-cache"] ?? false),
    dataParallelSize: flags["data-parallel-size"] ?? 1,
    speedupRatio: flags["speedup-ratio"],
    randomOutputLen: flags["random-output-len"],
    eosTokenIds: eos.length > 0 ? eos : [DEFAULT_EOS_TOKEN_ID],
    seed: flags["seed-base"],
    ...(numGpuBlocks === undefined ? {} : { numGpuBlocks }),
    ...(perfProfile === undefined ? {} : { perfProfile }),
  };
  let kvEvents: KvEventsSettings | undefined;
  const kvEventsJson = flags["kv-events-config"];
  if (kvEventsJson !== undefined) {
    try {
      kvEvents = parseKvEventsConfig(protocol, kvEventsJson);
    } catch (error) {
      throw new FlagError(error instanceof Error ? error.message : String(error));
    }
  }
  const transferJson = flags["kv-transfer-config"];
  const loras = loraNames(vllm ? flags["lora-modules"] : flags["lora-paths"]);
  return {
    protocol,
    host: flags.host ?? (vllm ? "0.0.0.0" : "127.0.0.1"),
    port: flags.port ?? (vllm ? 8000 : 30000),
    model,
    servedModelName,
    loras,
    engine,
    ...(kvEvents ? { kvEvents } : {}),
    ...(transferJson === undefined ? {} : { kvTransfer: parseKvTransfer(transferJson) }),
    disaggregationMode: flags["disaggregation-mode"] ?? "null",
    bootstrapPort: flags["disaggregation-bootstrap-port"] ?? 8998,
    priorityScheduling: vllm
      ? flags["scheduling-policy"] === "priority"
      : (flags["enable-priority-scheduling"] ?? false),
    metrics: vllm || (flags["enable-metrics"] ?? false),
    incrementalStreaming: flags["incremental-streaming-output"] ?? false,
    startupDelayMs: flags["startup-delay-ms"],
    ignored,
  };
}
