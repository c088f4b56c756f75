import type { Command } from "@kvasir/runtime";
import { type FrontendConfig, frontendConfigFromFlags, frontendFlags } from "./config.js";
import { type Frontend, start } from "./server.js";

/** `kvasir frontend`: its flags and how they become a FrontendConfig. */
export const frontendCommand: Command<FrontendConfig> & { start(config: FrontendConfig): Promise<Frontend> } =
  {
    name: "frontend",
    summary: "Serve the OpenAI-compatible HTTP API and route requests to the workers found in discovery.",
    flags: frontendFlags.specs,
    refused: frontendFlags.refused,
    toConfig: frontendConfigFromFlags,
    start,
  };
