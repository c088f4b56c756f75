// `vllm serve MODEL ...` completed for the worker (flag names from vLLM's EngineArgs / serve CLI): its HTTP port
// and host, `--kv-events-config` (a ZMQ publisher with a replay socket), `--enable-prefix-caching`,
// `--block-size`, and for disaggregated workers NixlConnector's `--kv-transfer-config` with a side-channel port
// of its own, so that several engines share a host.
import { flagValue } from "../http-engine/command-line.js";
import {
  addUnless,
  baseLaunch,
  type EngineFlagNames,
  httpUrl,
  type LaunchInput,
  type LaunchPlan,
} from "../http-engine/launch.js";

export const VLLM_FLAGS: EngineFlagNames = {
  port: ["--port"],
  host: ["--host"],
  blockSize: ["--block-size"],
  dataParallelSize: ["--data-parallel-size", "-dp"],
  maxNumSeqs: ["--max-num-seqs"],
  maxNumBatchedTokens: ["--max-num-batched-tokens"],
  contextLength: ["--max-model-len"],
  kvEventsConfig: ["--kv-events-config"],
};

export function vllmLaunch(input: LaunchInput): LaunchPlan {
  const base = baseLaunch("vllm", input, VLLM_FLAGS, "--block-size");
  const { argv } = base;
  // Prefix caching is what KV events and KV routing are about; on by default in V1, said explicitly here.
  addUnless(argv, ["--enable-prefix-caching"], "--enable-prefix-caching");
  // Without it vLLM leaves cached_tokens out of usage, and clients see no prefix-cache hits.
  addUnless(argv, ["--enable-prompt-tokens-details"], "--enable-prompt-tokens-details");
  const env: Record<string, string> = {};
  if (input.disaggregationMode !== "agg") {
    addUnless(
      argv,
      ["--kv-transfer-config"],
      "--kv-transfer-config",
      JSON.stringify({ kv_connector: "NixlConnector", kv_role: "kv_both" }),
    );
    // NIXL's handshake listens on 5600 + dp rank by default: two engines on one host would collide.
    if (process.env.VLLM_NIXL_SIDE_CHANNEL_PORT === undefined)
      env.VLLM_NIXL_SIDE_CHANNEL_PORT = String(input.ports.sideChannel);
    if (process.env.VLLM_NIXL_SIDE_CHANNEL_HOST === undefined)
      env.VLLM_NIXL_SIDE_CHANNEL_HOST = input.advertiseHost;
  }
  return {
    argv,
    env,
    url: httpUrl(base.host, base.port),
    settings: {
      ...base.settings,
      priorityScheduling: flagValue(argv, ["--scheduling-policy"]) === "priority",
    },
    ...(base.kvEventsConfig ? { kvEventsConfig: base.kvEventsConfig } : {}),
  };
}
