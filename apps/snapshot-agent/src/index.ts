// Public surface of the snapshot agent app: start it, its command for the CLI, and the pieces a worker's
// checkpoint flags and the tests use.
export { type CheckpointCall, SnapshotAgent } from "./agent.js";
export { type Checkpointer, CriuCheckpointer, type ToolReport } from "./checkpointer.js";
export { snapshotAgentCommand } from "./command.js";
export { type SnapshotAgentConfig, snapshotAgentConfigFromFlags, snapshotAgentFlags } from "./config.js";
export { checkpointId, identityFields } from "./identity.js";
export {
  SNAPSHOT_AGENT_COMPONENT,
  SNAPSHOT_AGENT_ENDPOINT,
  type SnapshotAgentApp,
  start,
} from "./snapshot-agent.js";
