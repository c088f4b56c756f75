// `--backend vllm|sglang`: the engine command completed (or the engine URL taken as it is), then the HttpEngine
// started on it with the backend's protocol.
import type { Logger } from "@kvasir/telemetry";
import type { HttpBackendFlags } from "../../flags.js";
import { sglangLaunch } from "../sglang/launch.js";
import { SglangProtocol } from "../sglang/protocol.js";
import { vllmLaunch } from "../vllm/launch.js";
import { VllmProtocol } from "../vllm/protocol.js";
import { leadingEnv, splitCommand } from "./command-line.js";
import { type HttpEngine, startHttpEngine } from "./http-engine.js";
import type { DisaggregationRole, LaunchInput, LaunchPlan } from "./launch.js";
import { freePortRange } from "./ports.js";

export type HttpBackend = "vllm" | "sglang";

export interface HttpBackendConfig extends HttpBackendFlags {
  /** Kvasir's KV block size, given to an engine whose command sets none. */
  blockSize: number;
  /** Variables added to a started engine's environment (a checkpoint job turns on vLLM's dev endpoints). */
  engineEnv?: Record<string, string>;
  /** dp ranks of an attached engine (a started one's come from its command). */
  dataParallelSize: number;
  transferBackend?: string;
}

export interface HttpEngineContext {
  workerId: bigint;
  log: Logger;
  advertiseHost: string;
  disaggregationMode: DisaggregationRole;
}

/** The command line the worker runs for `--engine-command`, with free ports for what it leaves unset. */
export async function launchPlan(
  backend: HttpBackend,
  config: HttpBackendConfig,
  context: HttpEngineContext,
  command: string,
): Promise<LaunchPlan> {
  const { env, argv } = leadingEnv(splitCommand(command));
  // Rank r of an engine with n dp ranks publishes on base+r: each socket gets a run of n ports.
  const ranks = 8;
  const taken = new Set<number>();
  const take = async (count: number) => {
    const base = await freePortRange(count, "127.0.0.1", taken);
    for (let p = base; p < base + count; p++) taken.add(p);
    return base;
  };
  const input: LaunchInput = {
    argv,
    ports: {
      http: await take(1),
      kvEvents: await take(ranks),
      kvReplay: await take(ranks),
      bootstrap: await take(1),
      sideChannel: await take(ranks),
    },
    blockSize: config.blockSize,
    ...(config.kvEventsConfig ? { kvEventsConfig: config.kvEventsConfig } : {}),
    disaggregationMode: context.disaggregationMode,
    ...(config.transferBackend ? { transferBackend: config.transferBackend } : {}),
    advertiseHost: context.advertiseHost,
  };
  const plan = backend === "vllm" ? vllmLaunch(input) : sglangLaunch(input);
  // The command's own assignments win over what the adapter sets.
  return { ...plan, env: { ...plan.env, ...env } };
}

export async function createHttpEngine(
  backend: HttpBackend,
  config: HttpBackendConfig,
  context: HttpEngineContext,
): Promise<HttpEngine> {
  const protocol =
    backend === "vllm"
      ? new VllmProtocol(config.api === "auto" ? undefined : config.api)
      : new SglangProtocol();
  const common = {
    protocol,
    workerId: context.workerId,
    log: context.log,
    advertiseHost: context.advertiseHost,
    readyTimeoutMs: config.readyTimeoutMs,
    restart: config.restart,
    metricsIntervalMs: config.metricsIntervalMs,
    killGraceMs: config.killGraceMs,
    replayTimeoutMs: 5000,
  };
  if (config.engineCommand !== undefined) {
    let plan: LaunchPlan;
    try {
      plan = await launchPlan(backend, config, context, config.engineCommand);
    } catch (error) {
      throw new Error(`--engine-command: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (config.engineEnv) plan = { ...plan, env: { ...plan.env, ...config.engineEnv } };
    return startHttpEngine({ ...common, target: { kind: "spawn", plan } });
  }
  if (config.engineUrl === undefined)
    throw new Error(`--backend ${backend} needs --engine-command or --engine-url`);
  return startHttpEngine({
    ...common,
    target: {
      kind: "attach",
      url: config.engineUrl,
      settings: {
        dataParallelSize: config.dataParallelSize,
        blockSize: config.blockSize,
        // Unknown for an engine started elsewhere: priorities are not sent (vLLM refuses them otherwise).
        priorityScheduling: false,
      },
      ...(config.kvEventsConfig ? { kvEventsConfig: config.kvEventsConfig } : {}),
    },
  });
}
