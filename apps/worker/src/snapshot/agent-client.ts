// Calls to this node's snapshot agent: checkpoint the engine this worker started, or restore one for it. The
// worker names processes in its own pid namespace (a container's); the agent translates.
import { readlink } from "node:fs/promises";
import {
  type CheckpointIdentity,
  CheckpointPhase,
  type CheckpointStatus,
  SnapshotAgentService,
} from "@kvasir/protocol";
import { type ClientOptions, createClient } from "@kvasir/runtime";

type Identity = Omit<CheckpointIdentity, "$typeName" | "$unknown">;

/** What a worker needs to attach to a restored engine, recorded with the checkpoint. */
export type EngineAttachment = Record<string, string>;

async function ownPidNamespace(): Promise<string> {
  return readlink("/proc/self/ns/pid").catch(() => "");
}

export class SnapshotAgentClient {
  private readonly client;

  constructor(
    readonly url: string,
    options?: ClientOptions,
  ) {
    this.client = createClient(SnapshotAgentService, url, options);
  }

  /** Checkpoints process `pid` (this worker's engine); resolves with the checkpoint, Ready or Failed. */
  async checkpoint(identity: Identity, pid: number, engine: EngineAttachment): Promise<CheckpointStatus> {
    const response = await this.client.checkpoint({
      identity,
      pid,
      pidNamespace: await ownPidNamespace(),
      engine,
    });
    if (!response.checkpoint) throw new Error("the snapshot agent answered without a checkpoint");
    return response.checkpoint;
  }

  /** Restores checkpoint `id` into this worker's network namespace; the attachment tells where the engine is. */
  async restore(id: string): Promise<{ checkpoint: CheckpointStatus; attachment: EngineAttachment }> {
    const response = await this.client.restore({
      id,
      pid: process.pid,
      pidNamespace: await ownPidNamespace(),
    });
    if (!response.checkpoint) throw new Error("the snapshot agent answered without a checkpoint");
    return { checkpoint: response.checkpoint, attachment: response.checkpoint.engine };
  }
}

export function isReady(checkpoint: CheckpointStatus): boolean {
  return checkpoint.phase === CheckpointPhase.READY;
}
