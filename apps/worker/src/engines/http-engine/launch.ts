// From the user's `--engine-command` to the command the worker runs: the adapter adds what it relies on (where the
// engine listens, its KV event publisher, block size, metrics, disaggregation role) unless the command already
// says it, and reads back the settings it needs to know. The per-engine flag names are in vllm/ and sglang/.

import type { EngineProtocol } from "@kvasir/engine-wire";
import { flagValue, hasFlag, intFlag, jsonFlag } from "./command-line.js";
import { defaultKvEventsConfig, publishes } from "./kv-events-config.js";
import type { EngineSettings } from "./protocol.js";

export type DisaggregationRole = "agg" | "prefill" | "decode";

/** What the worker hands the adapter to complete an engine command. */
export interface LaunchInput {
  argv: readonly string[];
  /** Free ports picked by the worker for what the command leaves unset. */
  ports: { http: number; kvEvents: number; kvReplay: number; bootstrap: number; sideChannel: number };
  /** Kvasir's KV block size (`--kv-cache-block-size`), given to the engine unless its command sets one. */
  blockSize: number;
  /** The worker's `--kv-events-config`, passed on when the command has none. */
  kvEventsConfig?: Record<string, unknown>;
  disaggregationMode: DisaggregationRole;
  /** `--disaggregation-transfer-backend`, passed on to engines that take it. */
  transferBackend?: string;
  /** The address peers reach this host on (vLLM's NIXL side channel). */
  advertiseHost: string;
}

/** The command to run and what the adapter knows about the engine it starts. */
export interface LaunchPlan {
  argv: string[];
  env: Record<string, string>;
  /** Base URL of the engine's HTTP server, from the worker. */
  url: string;
  settings: EngineSettings;
  /** The KV events config the engine runs with; undefined when it publishes none. */
  kvEventsConfig?: Record<string, unknown>;
}

/** Each engine's spelling of the flags the adapter reads or adds. */
export interface EngineFlagNames {
  port: string[];
  host: string[];
  blockSize: string[];
  dataParallelSize: string[];
  maxNumSeqs: string[];
  maxNumBatchedTokens: string[];
  contextLength: string[];
  kvEventsConfig: string[];
}

/** The parts every engine shares: HTTP address, KV events config, block size; returns the argv so far. */
export function baseLaunch(
  protocol: EngineProtocol,
  input: LaunchInput,
  names: EngineFlagNames,
  blockSizeFlag: string,
): {
  argv: string[];
  port: number;
  host: string;
  settings: Omit<EngineSettings, "priorityScheduling">;
  kvEventsConfig?: Record<string, unknown>;
} {
  const argv = [...input.argv];
  const portGiven = intFlag(argv, names.port);
  const port = portGiven ?? input.ports.http;
  if (portGiven === undefined) argv.push(names.port[0] ?? "--port", String(port));
  const hostGiven = flagValue(argv, names.host);
  if (hostGiven === undefined) argv.push(names.host[0] ?? "--host", "127.0.0.1");
  // A wildcard bind is reached on loopback from the worker beside it.
  const host =
    typeof hostGiven === "string" && !["0.0.0.0", "::", "[::]"].includes(hostGiven) ? hostGiven : "127.0.0.1";
  const blockSizeGiven = intFlag(argv, names.blockSize);
  if (blockSizeGiven === undefined) argv.push(blockSizeFlag, String(input.blockSize));
  let kvEventsConfig = jsonFlag(argv, names.kvEventsConfig);
  if (kvEventsConfig === undefined) {
    kvEventsConfig =
      input.kvEventsConfig ?? defaultKvEventsConfig(protocol, input.ports.kvEvents, input.ports.kvReplay);
    argv.push(names.kvEventsConfig[0] ?? "--kv-events-config", JSON.stringify(kvEventsConfig));
  }
  const dataParallelSize = intFlag(argv, names.dataParallelSize) ?? 1;
  const maxNumSeqs = intFlag(argv, names.maxNumSeqs);
  const maxNumBatchedTokens = intFlag(argv, names.maxNumBatchedTokens);
  const contextLength = intFlag(argv, names.contextLength);
  // Both engines take --api-key and refuse their API without it (vLLM also reads VLLM_API_KEY).
  const key = flagValue(argv, ["--api-key"]);
  const apiKey = typeof key === "string" ? key : (process.env.VLLM_API_KEY ?? undefined);
  return {
    argv,
    port,
    host,
    settings: {
      dataParallelSize,
      blockSize: blockSizeGiven ?? input.blockSize,
      ...(maxNumSeqs === undefined ? {} : { maxNumSeqs }),
      ...(maxNumBatchedTokens === undefined ? {} : { maxNumBatchedTokens }),
      ...(contextLength === undefined ? {} : { contextLength }),
      ...(apiKey ? { apiKey } : {}),
    },
    ...(publishes(protocol, kvEventsConfig) ? { kvEventsConfig } : {}),
  };
}

/** Appends `flag value` unless the command has the flag already. */
export function addUnless(argv: string[], names: readonly string[], ...added: string[]): void {
  if (!hasFlag(argv, names)) argv.push(...added);
}

export function httpUrl(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
