// The worker's side of the snapshot agent: make a checkpoint of its engine once the engine is ready, or start
// from one instead of starting the engine cold.
import { defineFlags, FlagError, type FlagValues } from "@kvasir/runtime";

export interface SnapshotConfig {
  /** The agent of this node (`--snapshot-agent-url`). */
  agentUrl: string;
  /** Checkpoint the engine once it is ready, then exit (a checkpoint job); no traffic is taken. */
  checkpointAfterReady: boolean;
  /** Restore the engine from this checkpoint instead of starting it cold. */
  restoreFrom?: string;
}

export const snapshotFlags = defineFlags({
  "snapshot-agent-url": {
    type: "string",
    env: "KVASIR_SNAPSHOT_AGENT_URL",
    help: "URL of this node's snapshot agent (kvasir snapshot-agent), for --checkpoint-after-ready and --restore-from",
  },
  "checkpoint-after-ready": {
    type: "boolean",
    default: false,
    help: "Once the engine is ready, checkpoint it through the snapshot agent and exit (a checkpoint job: no traffic is taken); --backend vllm|sglang with --engine-command",
    dynamo: "checkpoint Job of a DynamoCheckpoint (operator)",
    differs: "A worker flag; Dynamo's operator runs the checkpoint as a Kubernetes Job",
  },
  "restore-from": {
    type: "string",
    help: "Checkpoint id (16 hex) to restore the engine from instead of starting it cold; with --engine-command, a failed restore falls back to a cold start",
    dynamo: "checkpointRef (DynamoGraphDeployment)",
  },
});

/** The snapshot settings, undefined when neither flag asks for the agent. */
export function snapshotConfigFromFlags(values: FlagValues): SnapshotConfig | undefined {
  const flags = snapshotFlags.read(values);
  const restoreFrom = flags["restore-from"];
  if (!flags["checkpoint-after-ready"] && restoreFrom === undefined) return undefined;
  const agentUrl = flags["snapshot-agent-url"];
  if (!agentUrl)
    throw new FlagError(
      "--checkpoint-after-ready and --restore-from need --snapshot-agent-url (this node's agent)",
    );
  if (flags["checkpoint-after-ready"] && restoreFrom !== undefined)
    throw new FlagError("--checkpoint-after-ready and --restore-from exclude each other");
  if (restoreFrom !== undefined && !/^[0-9a-f]{16}$/.test(restoreFrom))
    throw new FlagError(`--restore-from takes a checkpoint id of 16 hex characters, got '${restoreFrom}'`);
  return {
    agentUrl,
    checkpointAfterReady: flags["checkpoint-after-ready"],
    ...(restoreFrom === undefined ? {} : { restoreFrom }),
  };
}
