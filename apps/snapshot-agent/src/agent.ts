// The snapshot agent's core: checkpoint phases (Pending → Creating → Ready | Failed), one creation per id at a time,
// manifest verification before every restore, watchers of phase changes, and garbage collection that keeps what
// is in use. Storage and the checkpointer come in from outside, so the tests run it on a temporary directory with
// recording scripts in place of CRIU.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { CheckpointIdentity } from "@kvasir/protocol";
import { AsyncQueue } from "@kvasir/runtime";
import type { Logger } from "@kvasir/telemetry";
import { type Checkpointer, CheckpointerError } from "./checkpointer.js";
import { checkpointId, IdentityError, identityFields, isCheckpointId } from "./identity.js";
import { buildManifest, describeProblems, verifyManifest } from "./manifest.js";
import { namespacesToJoin, resolveHostPid } from "./pid-namespace.js";
import type { CheckpointRecord, CheckpointStore } from "./store.js";

export type FailureReason =
  | "tools_unavailable"
  | "process_not_found"
  | "dump_failed"
  | "restore_failed"
  | "manifest_mismatch"
  | "storage_error";

/** What the agent reports as it works (metrics and logs hang off it). */
export interface AgentObserver {
  checkpointed(record: CheckpointRecord, seconds: number): void;
  restored(record: CheckpointRecord, seconds: number): void;
  failed(operation: "checkpoint" | "restore", reason: FailureReason): void;
  collected(record: CheckpointRecord, reason: "age" | "size" | "failed"): void;
}

export class AgentError extends Error {
  constructor(
    readonly code: "not_found" | "invalid_argument" | "failed_precondition" | "internal",
    message: string,
  ) {
    super(message);
  }
}

export interface GcPolicy {
  /** Checkpoints unused for longer are deleted; none when undefined. */
  maxAgeMs?: number;
  /** Least recently used checkpoints are deleted until the total is at most this; no limit when undefined. */
  maxTotalBytes?: number;
}

export interface SnapshotAgentOptions {
  store: CheckpointStore;
  checkpointer: Checkpointer;
  log: Logger;
  observer?: AgentObserver;
  gc?: GcPolicy;
  now?: () => number;
  /** Whether a process is alive (signal 0 by default). */
  isAlive?: (pid: number) => boolean;
}

export interface CheckpointCall {
  identity: Omit<CheckpointIdentity, "$typeName" | "$unknown">;
  pid: number;
  /** The pid namespace `pid` is numbered in (`readlink /proc/self/ns/pid`); empty: the agent's. */
  pidNamespace: string;
  engine: Record<string, string>;
  leaveRunning: boolean;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but not ours to signal.
    return error instanceof Error && "code" in error && error.code === "EPERM";
  }
}

type Listener = (record: CheckpointRecord) => void;

export class SnapshotAgent {
  private readonly creating = new Map<string, Promise<CheckpointRecord>>();
  private readonly restoring = new Map<string, number>();
  /** Processes this agent restored, by checkpoint; alive ones keep their checkpoint from garbage collection. */
  private readonly restoredPids = new Map<string, Set<number>>();
  /** Restored process → the worker it was restored for (host pids): it ends when its worker does. */
  private readonly owners = new Map<number, number>();
  private readonly terminating = new Set<number>();
  private readonly listeners = new Set<Listener>();
  private readonly watches = new Set<AsyncQueue<CheckpointRecord>>();
  private readonly now: () => number;
  private readonly isAlive: (pid: number) => boolean;

  constructor(private readonly options: SnapshotAgentOptions) {
    this.now = options.now ?? Date.now;
    this.isAlive = options.isAlive ?? processAlive;
  }

  /** Prepares storage; a creation cut short by a previous agent's exit is marked Failed. */
  async init(): Promise<void> {
    await this.options.store.init();
    for (const record of await this.options.store.list()) {
      if (record.phase === "Pending" || record.phase === "Creating")
        await this.save({
          ...record,
          phase: "Failed",
          message: "the agent stopped while this checkpoint was being created",
        });
    }
  }

  /** Live processes restored from a checkpoint by this agent. */
  restoredAlive(id: string): number {
    const pids = this.restoredPids.get(id);
    if (!pids) return 0;
    for (const pid of pids) if (!this.isAlive(pid)) pids.delete(pid);
    return pids.size;
  }

  /**
   * Ends restored processes whose worker is gone (a restored engine lives outside its worker's process tree, so
   * nothing else would): SIGTERM first, SIGKILL on the next pass if it is still there. Returns the pids signalled.
   */
  reapOrphans(): number[] {
    const signalled: number[] = [];
    for (const [pid, owner] of this.owners) {
      if (!this.isAlive(pid)) {
        this.owners.delete(pid);
        continue;
      }
      if (this.isAlive(owner)) continue;
      const signal = this.terminating.has(pid) ? "SIGKILL" : "SIGTERM";
      try {
        process.kill(pid, signal);
      } catch {
        // Gone meanwhile.
      }
      this.terminating.add(pid);
      signalled.push(pid);
      this.options.log.info("restored engine's worker is gone: ending it", {
        pid,
        worker_pid: owner,
        signal,
      });
    }
    for (const pid of this.terminating) if (!this.owners.has(pid)) this.terminating.delete(pid);
    return signalled;
  }

  /** Creates the checkpoint of `call.pid` under its identity's id, joins one in progress, or returns a Ready one. */
  async checkpoint(call: CheckpointCall): Promise<CheckpointRecord> {
    let fields: ReturnType<typeof identityFields>;
    try {
      fields = identityFields(call.identity);
    } catch (error) {
      if (error instanceof IdentityError) throw new AgentError("invalid_argument", error.message);
      throw error;
    }
    if (!Number.isInteger(call.pid) || call.pid <= 0)
      throw new AgentError("invalid_argument", `pid must be a positive integer, got ${call.pid}`);
    const id = checkpointId(fields);
    const inProgress = this.creating.get(id);
    if (inProgress) return inProgress;
    // Registered before the first await, so a concurrent call for the same id joins this one.
    const creation = this.readyOrCreate(id, fields, call).finally(() => this.creating.delete(id));
    this.creating.set(id, creation);
    return creation;
  }

  private async readyOrCreate(
    id: string,
    identity: CheckpointRecord["identity"],
    call: CheckpointCall,
  ): Promise<CheckpointRecord> {
    const existing = await this.options.store.read(id);
    return existing?.phase === "Ready" ? existing : this.create(id, identity, call);
  }

  private async create(
    id: string,
    identity: CheckpointRecord["identity"],
    call: CheckpointCall,
  ): Promise<CheckpointRecord> {
    const startedAt = this.now();
    let record: CheckpointRecord = {
      id,
      identity,
      phase: "Pending",
      message: `checkpoint of pid ${call.pid} requested`,
      createdAtMs: 0,
      lastUsedAtMs: 0,
      sizeBytes: 0,
      engine: call.engine,
      cuda: false,
    };
    await this.save(record);
    const fail = async (reason: FailureReason, message: string): Promise<CheckpointRecord> => {
      this.options.observer?.failed("checkpoint", reason);
      this.options.log.error("checkpoint failed", { checkpoint_id: id, reason, message });
      record = { ...record, phase: "Failed", message };
      await this.save(record);
      return record;
    };
    const tools = await this.options.checkpointer.check();
    if (!tools.criu.ok) return fail("tools_unavailable", tools.criu.detail);
    const pid = await resolveHostPid(call.pidNamespace, call.pid).catch(() => undefined);
    if (pid === undefined || !this.isAlive(pid))
      return fail(
        "process_not_found",
        `no process with pid ${call.pid} in ${call.pidNamespace || "the agent's pid namespace"}`,
      );
    record = { ...record, phase: "Creating", message: `dumping pid ${pid}` };
    await this.save(record);
    try {
      const images = await this.options.store.resetImages(id);
      const workDir = join(this.options.store.dir(id), "work");
      await mkdir(workDir, { recursive: true });
      const { cuda } = await this.options.checkpointer.dump(pid, images, {
        leaveRunning: call.leaveRunning,
        workDir,
      });
      const manifest = await buildManifest(images);
      if (manifest.files.length === 0) return fail("dump_failed", "the dump wrote no image files");
      await this.options.store.writeManifest(id, manifest);
      const now = this.now();
      record = {
        ...record,
        phase: "Ready",
        message: `${manifest.files.length} image files`,
        createdAtMs: now,
        lastUsedAtMs: now,
        sizeBytes: manifest.totalBytes,
        cuda,
      };
      await this.save(record);
      this.options.observer?.checkpointed(record, (now - startedAt) / 1000);
      this.options.log.info("checkpoint ready", {
        checkpoint_id: id,
        pid,
        bytes: record.sizeBytes,
        cuda,
        seconds: (now - startedAt) / 1000,
      });
      return record;
    } catch (error) {
      const reason = error instanceof CheckpointerError ? error.reason : "storage_error";
      return fail(reason === "restore_failed" ? "dump_failed" : reason, errorMessage(error));
    }
  }

  /**
   * Verifies a Ready checkpoint's images and restores its process tree; returns the restored root's pid. With a
   * requester (a worker's own pid in its pid namespace), the tree joins that worker's network, UTS and IPC
   * namespaces, so the engine is on the worker's localhost.
   */
  async restore(
    id: string,
    requester?: { pid: number; pidNamespace: string },
  ): Promise<{ record: CheckpointRecord; pid: number }> {
    const record = await this.get(id);
    if (record.phase !== "Ready")
      throw new AgentError("failed_precondition", `checkpoint ${id} is ${record.phase}, not Ready`);
    const startedAt = this.now();
    this.restoring.set(id, (this.restoring.get(id) ?? 0) + 1);
    try {
      const { store } = this.options;
      const problems = await verifyManifest(store.imagesDir(id), await store.readManifest(id));
      if (problems.length > 0) {
        const message = `images do not match the manifest: ${describeProblems(problems)}`;
        this.options.observer?.failed("restore", "manifest_mismatch");
        // A damaged checkpoint is never tried again; the next checkpoint call for this identity makes it anew.
        await this.save({ ...record, phase: "Failed", message });
        throw new AgentError("failed_precondition", `checkpoint ${id}: ${message}`);
      }
      const workDir = join(store.dir(id), "work");
      await mkdir(workDir, { recursive: true });
      let joinNamespaces: Record<string, string> = {};
      let owner: number | undefined;
      if (requester && requester.pid > 0) {
        owner = await resolveHostPid(requester.pidNamespace, requester.pid).catch(() => undefined);
        if (owner === undefined)
          throw new AgentError(
            "invalid_argument",
            `no process with pid ${requester.pid} in ${requester.pidNamespace || "the agent's pid namespace"}`,
          );
        joinNamespaces = await namespacesToJoin(owner);
      }
      let pid: number;
      try {
        pid = await this.options.checkpointer.restore(store.imagesDir(id), {
          workDir,
          cuda: record.cuda,
          joinNamespaces,
        });
      } catch (error) {
        this.options.observer?.failed("restore", "restore_failed");
        throw new AgentError("internal", `checkpoint ${id}: ${errorMessage(error)}`);
      }
      const pids = this.restoredPids.get(id) ?? new Set<number>();
      this.restoredPids.set(id, pids.add(pid));
      if (owner !== undefined) this.owners.set(pid, owner);
      const now = this.now();
      const used = { ...record, lastUsedAtMs: now };
      await this.save(used);
      this.options.observer?.restored(used, (now - startedAt) / 1000);
      this.options.log.info("checkpoint restored", {
        checkpoint_id: id,
        pid,
        seconds: (now - startedAt) / 1000,
      });
      return { record: used, pid };
    } finally {
      const left = (this.restoring.get(id) ?? 1) - 1;
      if (left > 0) this.restoring.set(id, left);
      else this.restoring.delete(id);
    }
  }

  async get(id: string): Promise<CheckpointRecord> {
    if (!isCheckpointId(id))
      throw new AgentError("invalid_argument", `not a checkpoint id: ${JSON.stringify(id)}`);
    const record = await this.options.store.read(id);
    if (!record) throw new AgentError("not_found", `no checkpoint ${id}`);
    return record;
  }

  list(): Promise<CheckpointRecord[]> {
    return this.options.store.list();
  }

  async delete(id: string): Promise<void> {
    await this.get(id);
    if (this.creating.has(id) || this.restoring.has(id))
      throw new AgentError("failed_precondition", `checkpoint ${id} is being created or restored`);
    await this.options.store.remove(id);
    this.restoredPids.delete(id);
  }

  /** The checkpoint's current record (every checkpoint's when `id` is undefined), then each change. */
  async watch(id: string | undefined): Promise<AsyncQueue<CheckpointRecord>> {
    const current = id ? [await this.get(id)] : await this.list();
    const listener: Listener = (record) => {
      if (!id || record.id === id) queue.push(record);
    };
    // Breaking out of the consumer's loop (the stream's end) unsubscribes.
    const queue = new AsyncQueue<CheckpointRecord>(() => {
      this.listeners.delete(listener);
      this.watches.delete(queue);
    });
    for (const record of current) queue.push(record);
    this.listeners.add(listener);
    this.watches.add(queue);
    return queue;
  }

  /** Ends every watch stream (the agent is stopping; watchers reconnect to its successor). */
  endWatches(): void {
    for (const queue of this.watches) queue.end();
    this.watches.clear();
  }

  /**
   * Deletes checkpoints unused for longer than the age limit, Failed ones past it too, then the least recently
   * used until the total size fits. Never one being created or restored, nor one with a live restored process.
   */
  async collectGarbage(): Promise<CheckpointRecord[]> {
    const { maxAgeMs, maxTotalBytes } = this.options.gc ?? {};
    const now = this.now();
    const records = await this.options.store.list();
    const inUse = (r: CheckpointRecord) =>
      this.creating.has(r.id) || this.restoring.has(r.id) || this.restoredAlive(r.id) > 0;
    const lastUse = (r: CheckpointRecord) => Math.max(r.lastUsedAtMs, r.createdAtMs);
    const deleted: CheckpointRecord[] = [];
    const remove = async (record: CheckpointRecord, reason: "age" | "size" | "failed") => {
      await this.options.store.remove(record.id);
      this.restoredPids.delete(record.id);
      deleted.push(record);
      this.options.observer?.collected(record, reason);
      this.options.log.info("checkpoint collected", {
        checkpoint_id: record.id,
        reason,
        bytes: record.sizeBytes,
      });
    };
    const kept: CheckpointRecord[] = [];
    for (const record of records) {
      if (inUse(record)) kept.push(record);
      else if (record.phase === "Failed" && maxAgeMs !== undefined && now - lastUse(record) > maxAgeMs)
        await remove(record, "failed");
      else if (record.phase === "Ready" && maxAgeMs !== undefined && now - lastUse(record) > maxAgeMs)
        await remove(record, "age");
      else kept.push(record);
    }
    if (maxTotalBytes !== undefined) {
      let total = kept.reduce((sum, r) => sum + r.sizeBytes, 0);
      const evictable = kept.filter((r) => !inUse(r)).sort((a, b) => lastUse(a) - lastUse(b));
      for (const record of evictable) {
        if (total <= maxTotalBytes) break;
        await remove(record, "size");
        total -= record.sizeBytes;
      }
    }
    return deleted;
  }

  private async save(record: CheckpointRecord): Promise<void> {
    await this.options.store.write(record);
    for (const listener of this.listeners) listener(record);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
