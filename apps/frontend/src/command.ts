import type { Command } from "@kvasir/runtime";
import { startFrontendProcesses } from "./cluster.js";
import { type FrontendConfig, frontendConfigFromFlags, frontendFlags } from "./config.js";

/** `kvasir frontend`: its flags and how they become a FrontendConfig (one process, or `--num-processes` of them). */
export const frontendCommand: Command<FrontendConfig> = {
  name: "frontend",
  summary: "Serve the OpenAI-compatible HTTP API and route requests to the workers found in discovery.",
  flags: frontendFlags.specs,
  refused: frontendFlags.refused,
  toConfig: frontendConfigFromFlags,
  start: startFrontendProcesses,
};
