import type { Command } from "@kvasir/runtime";
import { type SnapshotAgentConfig, snapshotAgentConfigFromFlags, snapshotAgentFlags } from "./config.js";
import { type SnapshotAgentApp, start } from "./snapshot-agent.js";

/** `kvasir snapshot-agent`: the per-node checkpoint and restore agent. */
export const snapshotAgentCommand: Command<SnapshotAgentConfig> & {
  start(config: SnapshotAgentConfig): Promise<SnapshotAgentApp>;
} = {
  name: "snapshot-agent",
  summary:
    "Run the node's snapshot agent: checkpoint warm engines (cuda-checkpoint + CRIU) and restore them.",
  flags: snapshotAgentFlags.specs,
  refused: snapshotAgentFlags.refused,
  toConfig: snapshotAgentConfigFromFlags,
  start,
};
