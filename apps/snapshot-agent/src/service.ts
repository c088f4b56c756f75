// SnapshotAgentService over Connect: each RPC is one call on the agent; the agent's errors become Connect codes.
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  CheckpointIdentitySchema,
  CheckpointPhase,
  type CheckpointStatus,
  CheckpointStatusSchema,
  create,
  type SnapshotAgentService,
} from "@kvasir/protocol";
import { AgentError, type SnapshotAgent } from "./agent.js";
import type { CheckpointRecord, Phase } from "./store.js";

const PHASES: Record<Phase, CheckpointPhase> = {
  Pending: CheckpointPhase.PENDING,
  Creating: CheckpointPhase.CREATING,
  Ready: CheckpointPhase.READY,
  Failed: CheckpointPhase.FAILED,
};

const CODES: Record<AgentError["code"], Code> = {
  not_found: Code.NotFound,
  invalid_argument: Code.InvalidArgument,
  failed_precondition: Code.FailedPrecondition,
  internal: Code.Internal,
};

function toConnect(error: unknown): unknown {
  return error instanceof AgentError ? new ConnectError(error.message, CODES[error.code]) : error;
}

async function answer<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toConnect(error);
  }
}

export function checkpointStatus(record: CheckpointRecord, restoredAlive: number): CheckpointStatus {
  return create(CheckpointStatusSchema, {
    id: record.id,
    identity: create(CheckpointIdentitySchema, record.identity),
    phase: PHASES[record.phase],
    message: record.message,
    createdAtMs: BigInt(record.createdAtMs),
    lastUsedAtMs: BigInt(record.lastUsedAtMs),
    sizeBytes: BigInt(record.sizeBytes),
    engine: record.engine,
    restoredAlive,
  });
}

export function snapshotAgentServiceImpl(agent: SnapshotAgent): ServiceImpl<typeof SnapshotAgentService> {
  const status = (record: CheckpointRecord) => checkpointStatus(record, agent.restoredAlive(record.id));
  return {
    checkpoint: (request) =>
      answer(async () => {
        if (!request.identity) throw new AgentError("invalid_argument", "identity is required");
        const record = await agent.checkpoint({
          identity: request.identity,
          pid: request.pid,
          pidNamespace: request.pidNamespace,
          engine: request.engine,
          leaveRunning: request.leaveRunning,
        });
        return { checkpoint: status(record) };
      }),
    restore: (request) =>
      answer(async () => {
        const { record, pid } = await agent.restore(request.id, {
          pid: request.pid,
          pidNamespace: request.pidNamespace,
        });
        return { checkpoint: status(record), pid };
      }),
    get: (request) => answer(async () => ({ checkpoint: status(await agent.get(request.id)) })),
    list: () => answer(async () => ({ checkpoints: (await agent.list()).map(status) })),
    delete: (request) =>
      answer(async () => {
        await agent.delete(request.id);
        return {};
      }),
    async *watch(request, context) {
      let changes: Awaited<ReturnType<SnapshotAgent["watch"]>>;
      try {
        changes = await agent.watch(request.id || undefined);
      } catch (error) {
        throw toConnect(error);
      }
      context.signal.addEventListener("abort", () => changes.end(), { once: true });
      for await (const record of changes) yield { checkpoint: status(record) };
    },
  };
}
