// The real CRIU, where this machine lets it run. On these development machines `criu check` fails (the kernel's
// vDSO layout), so the test asserts that the agent refuses with CRIU's own reason and prints it for CI's log; on
// a machine where the check passes, it checkpoints and restores a live process that counts requests in memory,
// and the restored process must go on counting from where the dumped one stopped.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createLogger } from "@kvasir/telemetry";
import { freePort, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnapshotAgent } from "../src/agent.js";
import { CriuCheckpointer } from "../src/checkpointer.js";
import { CheckpointStore } from "../src/store.js";

const run = promisify(execFile);

async function criuCheck(): Promise<{ ok: boolean; reason: string }> {
  try {
    await run("criu", ["check"]);
    return { ok: true, reason: "" };
  } catch (error) {
    const stderr = error instanceof Error && "stderr" in error ? String(error.stderr) : "";
    const reason =
      stderr.trim().split("\n").at(-2) ?? (error instanceof Error ? error.message : String(error));
    return { ok: false, reason: reason || (error instanceof Error ? error.message : String(error)) };
  }
}

describe("snapshot agent with the real criu", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kvasir-criu-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("checkpoints and restores a live process, or refuses with CRIU's reason where CRIU cannot run", async () => {
    const port = await freePort();
    const counter = spawn(
      process.execPath,
      [
        "-e",
        `let n = 0; require("node:http").createServer((q, s) => s.end(String(++n))).listen(${port}, "127.0.0.1");`,
      ],
      { stdio: "ignore", detached: true },
    );
    const pid = counter.pid ?? 0;
    const count = async () => Number(await (await fetch(`http://127.0.0.1:${port}/`)).text());
    const answers = () =>
      count().then(
        () => true,
        () => false,
      );
    // The first answer (1) shows it is up; the next is 2.
    await waitFor(answers, { timeoutMs: 10_000 });
    expect(await count()).toBe(2);

    const agent = new SnapshotAgent({
      store: new CheckpointStore(join(dir, "checkpoints")),
      checkpointer: new CriuCheckpointer({
        criuPath: "criu",
        cudaCheckpointPath: "cuda-checkpoint",
        timeoutMs: 120_000,
      }),
      log: createLogger("snapshot-agent-real-criu"),
    });
    await agent.init();
    const check = await criuCheck();
    const record = await agent.checkpoint({
      identity: {
        model: "counter",
        backend: "mocker",
        backendVersion: "",
        tensorParallelSize: 1,
        pipelineParallelSize: 1,
        dtype: "",
        maxModelLen: 0,
        extraParameters: {},
      },
      pid,
      pidNamespace: "",
      engine: {},
      leaveRunning: false,
    });
    try {
      if (!check.ok) {
        console.warn(
          `real CRIU checkpoint and restore not run on this machine: criu check fails: ${check.reason}`,
        );
        expect(record.phase).toBe("Failed");
        expect(record.message).toMatch(/criu (check failed|not runnable)/);
        return;
      }
      expect(record.phase).toBe("Ready");
      await waitFor(async () => !(await answers()), { message: "the dumped process is gone" });
      const restored = await agent.restore(record.id);
      try {
        // Memory came back with the process: the count goes on from 2.
        expect(await count()).toBe(3);
      } finally {
        process.kill(restored.pid, "SIGKILL");
      }
    } finally {
      counter.kill("SIGKILL");
    }
  });
});
