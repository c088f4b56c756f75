// Checkpoint storage over time: garbage collection by age and total size that keeps what is in use, and recovery
// of creations cut short by an agent's exit. The agent runs in this process on a temporary directory, with the
// recording scripts in place of CRIU and cuda-checkpoint.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger } from "@kvasir/telemetry";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SnapshotAgent } from "../src/agent.js";
import { CriuCheckpointer } from "../src/checkpointer.js";
import { CheckpointStore } from "../src/store.js";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
const HOUR = 3_600_000;

describe("checkpoint storage", () => {
  let dir: string;
  const children: (() => void)[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kvasir-snapshot-gc-"));
  });
  afterEach(() => {
    for (const stop of children.splice(0)) stop();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function agentOn(
    storage: string,
    clock: { now: number },
    alive: Set<number>,
    gc = {},
    collected: string[] = [],
  ) {
    return new SnapshotAgent({
      store: new CheckpointStore(storage),
      checkpointer: new CriuCheckpointer({
        criuPath: join(fixtures, "fake-criu.mjs"),
        cudaCheckpointPath: join(fixtures, "fake-cuda-checkpoint.mjs"),
        timeoutMs: 30_000,
      }),
      log: createLogger("snapshot-agent-test"),
      now: () => clock.now,
      isAlive: (pid) => alive.has(pid),
      gc,
      observer: {
        checkpointed: () => {},
        restored: () => {},
        failed: () => {},
        collected: (record, reason) => collected.push(`${record.identity.model}:${reason}`),
      },
    });
  }

  function target(): number {
    const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    if (child.pid === undefined) throw new Error("target did not start");
    children.push(() => child.kill("SIGKILL"));
    return child.pid;
  }

  const identity = (model: string) => ({
    model,
    backend: "mocker",
    backendVersion: "",
    tensorParallelSize: 1,
    pipelineParallelSize: 1,
    dtype: "",
    maxModelLen: 4096,
    extraParameters: {},
  });

  it("collects by age and then by size, least recently used first, never one in use", async () => {
    const clock = { now: 10 * HOUR };
    const alive = new Set<number>();
    const collected: string[] = [];
    const storage = join(dir, "gc");
    const agent = agentOn(
      storage,
      clock,
      alive,
      { maxAgeMs: 24 * HOUR, maxTotalBytes: 600 * 1024 },
      collected,
    );
    await agent.init();
    const made: Record<string, string> = {};
    for (const model of ["old", "in-use", "recent", "newest"]) {
      const pid = target();
      alive.add(pid);
      const record = await agent.checkpoint({
        identity: identity(model),
        pid,
        pidNamespace: "",
        engine: {},
        leaveRunning: true,
      });
      expect(record.phase).toBe("Ready");
      made[model] = record.id;
      clock.now += HOUR;
    }
    // "in-use" is restored: its restored process stays alive, so no limit may take it.
    const restored = await agent.restore(made["in-use"] ?? "");
    children.push(() => process.kill(restored.pid, "SIGKILL"));
    alive.add(restored.pid);
    // Two days on, every checkpoint is past the age limit but "newest", used again just now.
    clock.now += 48 * HOUR;
    const newest = await agent.restore(made.newest ?? "");
    children.push(() => process.kill(newest.pid, "SIGKILL"));

    await agent.collectGarbage();
    expect(collected.sort()).toEqual(["old:age", "recent:age"]);
    expect((await agent.list()).map((r) => r.identity.model).sort()).toEqual(["in-use", "newest"]);

    // A size limit alone (each checkpoint holds ~260 KiB): three do not fit in 600 KiB. A restarted agent knows
    // no restored processes, so "in-use" is now merely the least recently used, and it goes.
    const sized: string[] = [];
    const bySize = agentOn(storage, clock, alive, { maxTotalBytes: 600 * 1024 }, sized);
    const pid = target();
    alive.add(pid);
    clock.now += HOUR;
    await bySize.checkpoint({
      identity: identity("another"),
      pid,
      pidNamespace: "",
      engine: {},
      leaveRunning: true,
    });
    await bySize.collectGarbage();
    expect(sized).toEqual(["in-use:size"]);
    expect((await bySize.list()).map((r) => r.identity.model).sort()).toEqual(["another", "newest"]);
  });

  it("marks a creation cut short by the agent's exit as Failed, and makes it anew on the next call", async () => {
    const storage = join(dir, "recover");
    const store = new CheckpointStore(storage);
    await store.init();
    const clock = { now: HOUR };
    const alive = new Set<number>();
    const first = agentOn(storage, clock, alive);
    await first.init();
    const pid = target();
    alive.add(pid);
    const ready = await first.checkpoint({
      identity: identity("cut"),
      pid,
      pidNamespace: "",
      engine: {},
      leaveRunning: true,
    });
    await store.write({ ...ready, phase: "Creating", message: "dumping" });

    const second = agentOn(storage, clock, alive);
    await second.init();
    const recovered = await second.get(ready.id);
    expect(recovered.phase).toBe("Failed");
    expect(recovered.message).toMatch(/agent stopped/);
    const again = await second.checkpoint({
      identity: identity("cut"),
      pid,
      pidNamespace: "",
      engine: {},
      leaveRunning: true,
    });
    expect(again.phase).toBe("Ready");
    expect(again.id).toBe(ready.id);
  });
});
