// The snapshot agent as a real process, with CRIU and cuda-checkpoint replaced through its flags by scripts that
// record their command lines and leave behind what the real tools would (image files; a restored process). CRIU
// cannot run on these machines (`criu check` fails on the kernel's vDSO); real-criu.test.ts covers the real tool.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Code, ConnectError } from "@connectrpc/connect";
import { CheckpointPhase, type CheckpointStatus, SnapshotAgentService } from "@kvasir/protocol";
import { createClient } from "@kvasir/runtime";
import { type NodeProcess, spawnNode, waitFor } from "@kvasir/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const identity = {
  model: "Qwen/Qwen3-0.6B",
  backend: "vllm",
  backendVersion: "0.11.0",
  dtype: "bfloat16",
  maxModelLen: 2048,
};

interface Agent {
  process: NodeProcess;
  url: string;
  statusUrl: string;
  client: ReturnType<typeof createClient<typeof SnapshotAgentService>>;
}

async function startAgent(
  storage: string,
  toolsLog: string,
  env: Record<string, string> = {},
): Promise<Agent> {
  const process = await spawnNode(
    main,
    [
      "--storage-path",
      storage,
      "--criu-path",
      join(fixtures, "fake-criu.mjs"),
      "--cuda-checkpoint-path",
      join(fixtures, "fake-cuda-checkpoint.mjs"),
      "--system-port",
      "0",
    ],
    { env: { FAKE_TOOLS_LOG: toolsLog, ...env }, readyLine: /snapshot agent ready/ },
  );
  const ready = JSON.parse(await process.waitForLine(/snapshot agent ready/));
  return {
    process,
    url: ready.url,
    statusUrl: ready.status_url,
    client: createClient(SnapshotAgentService, ready.url),
  };
}

/** A long-running process standing in for an engine; it serves its own pid so a restore can be told apart. */
function startTarget(): { pid: number; stop: () => void } {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", "engine-stand-in"], {
    stdio: "ignore",
  });
  if (child.pid === undefined) throw new Error("target did not start");
  return { pid: child.pid, stop: () => child.kill("SIGKILL") };
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function toolCalls(log: string): Promise<string[][]> {
  const text = await readFile(log, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

describe("snapshot agent process", () => {
  let dir: string;
  let agent: Agent | undefined;
  const cleanup: (() => void)[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kvasir-snapshot-"));
  });
  afterEach(async () => {
    agent?.process.kill("SIGTERM");
    await agent?.process.exited;
    agent = undefined;
    for (const fn of cleanup.splice(0)) fn();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("checkpoints a process once for concurrent callers, verifies the images, and restores it", async () => {
    const storage = join(dir, "flow");
    const log = join(dir, "flow-tools.log");
    agent = await startAgent(storage, log);
    const target = startTarget();
    cleanup.push(target.stop);

    const watch = new AbortController();
    const phases: CheckpointPhase[] = [];
    const watching = (async () => {
      try {
        for await (const change of agent.client.watch({}, { signal: watch.signal }))
          if (change.checkpoint) phases.push(change.checkpoint.phase);
      } catch {
        // aborted below
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 100));

    const request = { identity, pid: target.pid, engine: { url: "http://127.0.0.1:8000" } };
    const [first, second] = await Promise.all([
      agent.client.checkpoint(request),
      agent.client.checkpoint(request),
    ]);
    const checkpoint = first.checkpoint as CheckpointStatus;
    expect(checkpoint.phase).toBe(CheckpointPhase.READY);
    expect(second.checkpoint?.id).toBe(checkpoint.id);
    expect(checkpoint.id).toMatch(/^[0-9a-f]{16}$/);
    expect(checkpoint.engine).toEqual({ url: "http://127.0.0.1:8000" });
    expect(checkpoint.sizeBytes).toBeGreaterThan(256n * 1024n);

    const calls = await toolCalls(log);
    const dumps = calls.filter((call) => call[0] === "criu" && call[1] === "dump");
    expect(dumps).toHaveLength(1);
    const dump = dumps[0] ?? [];
    expect(dump.slice(2, 4)).toEqual(["--tree", String(target.pid)]);
    for (const option of ["--tcp-established", "--ext-unix-sk", "--shell-job", "--file-locks"])
      expect(dump).toContain(option);
    expect(dump).not.toContain("--leave-running");
    // GPU state is suspended before the dump (and not resumed: the dumped process ends).
    const toggles = calls.filter((call) => call[0] === "cuda-checkpoint" && call[1] === "--toggle");
    expect(toggles).toEqual([["cuda-checkpoint", "--toggle", "--pid", String(target.pid)]]);
    await waitFor(() => !alive(target.pid), { message: "the dumped process ends" });

    const manifest = JSON.parse(await readFile(join(storage, checkpoint.id, "manifest.json"), "utf8"));
    expect(manifest.files.map((f: { path: string }) => f.path).sort()).toEqual([
      `pages-${target.pid}.img`,
      "pstree.img",
    ]);

    const restored = await agent.client.restore({ id: checkpoint.id });
    cleanup.push(() => killQuietly(restored.pid));
    expect(restored.pid).toBeGreaterThan(0);
    expect(alive(restored.pid)).toBe(true);
    const cmdline = await readFile(`/proc/${restored.pid}/cmdline`, "utf8");
    expect(cmdline).toContain("engine-stand-in");
    const after = await toolCalls(log);
    expect(after.at(-1)).toEqual(["cuda-checkpoint", "--toggle", "--pid", String(restored.pid)]);
    const listed = await agent.client.list({});
    expect(listed.checkpoints.map((c) => [c.id, c.restoredAlive])).toEqual([[checkpoint.id, 1]]);

    await waitFor(() => phases.includes(CheckpointPhase.READY));
    watch.abort();
    await watching;
    expect(phases.slice(0, 3)).toEqual([
      CheckpointPhase.PENDING,
      CheckpointPhase.CREATING,
      CheckpointPhase.READY,
    ]);

    const metrics = await (await fetch(`${agent.statusUrl}/metrics`)).text();
    expect(metrics).toMatch(/dynamo_snapshot_checkpoint_duration_seconds_count\{[^}]*\} 1/);
    expect(metrics).toMatch(/dynamo_snapshot_restore_duration_seconds_count\{[^}]*\} 1/);
  });

  it("refuses to restore a checkpoint whose images were truncated or altered", async () => {
    const storage = join(dir, "damaged");
    agent = await startAgent(storage, join(dir, "damaged-tools.log"));
    for (const damage of ["truncate", "alter"] as const) {
      const target = startTarget();
      cleanup.push(target.stop);
      const made = await agent.client.checkpoint({
        identity: { ...identity, extraParameters: { damage } },
        pid: target.pid,
      });
      const id = made.checkpoint?.id ?? "";
      const pages = join(storage, id, "images", `pages-${target.pid}.img`);
      if (damage === "truncate") await truncate(pages, 1000);
      else await writeFile(pages, Buffer.alloc(256 * 1024, 7));
      const refused = await agent.client.restore({ id }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ConnectError);
      expect((refused as ConnectError).code).toBe(Code.FailedPrecondition);
      expect((refused as ConnectError).rawMessage).toMatch(
        damage === "truncate" ? /pages-\d+\.img: 1000 bytes, manifest says 262144/ : /SHA-256 differs/,
      );
      const status = await agent.client.get({ id });
      expect(status.checkpoint?.phase).toBe(CheckpointPhase.FAILED);
    }
    const metrics = await (await fetch(`${agent.statusUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /dynamo_snapshot_failures_total\{[^}]*operation="restore"[^}]*reason="manifest_mismatch"[^}]*\} 2/,
    );
  });

  it("reports why a checkpoint cannot be made: no working CRIU, or a failed dump that leaves the engine running", async () => {
    agent = await startAgent(join(dir, "no-criu"), join(dir, "no-criu-tools.log"), {
      FAKE_CRIU_CHECK: "fail",
    });
    const target = startTarget();
    cleanup.push(target.stop);
    const refused = await agent.client.checkpoint({ identity, pid: target.pid });
    expect(refused.checkpoint?.phase).toBe(CheckpointPhase.FAILED);
    expect(refused.checkpoint?.message).toMatch(/criu check failed: .*vDSO/);
    agent.process.kill("SIGTERM");
    await agent.process.exited;

    const log = join(dir, "dump-fails-tools.log");
    agent = await startAgent(join(dir, "dump-fails"), log, { FAKE_CRIU_FAIL: "dump" });
    const failed = await agent.client.checkpoint({ identity, pid: target.pid });
    expect(failed.checkpoint?.phase).toBe(CheckpointPhase.FAILED);
    expect(failed.checkpoint?.message).toMatch(/criu dump: .*failed on purpose/);
    expect(alive(target.pid)).toBe(true);
    // Suspended for the dump, resumed after it failed.
    const toggles = (await toolCalls(log)).filter((call) => call[1] === "--toggle");
    expect(toggles).toHaveLength(2);

    const bad = await agent.client
      .checkpoint({ identity: { ...identity, model: "" }, pid: 1 })
      .catch((e) => e);
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    const missing = await agent.client.get({ id: "0123456789abcdef" }).catch((e) => e);
    expect((missing as ConnectError).code).toBe(Code.NotFound);
    const metrics = await (await fetch(`${agent.statusUrl}/metrics`)).text();
    expect(metrics).toMatch(/dynamo_snapshot_failures_total\{[^}]*reason="dump_failed"[^}]*\} 1/);
  });
  it("ends a restored engine once the worker it was restored for is gone", async () => {
    agent = await startAgent(join(dir, "owner"), join(dir, "owner-tools.log"));
    const engine = startTarget();
    cleanup.push(engine.stop);
    const made = await agent.client.checkpoint({
      identity: { ...identity, extraParameters: { owner: "x" } },
      pid: engine.pid,
    });
    const worker = startTarget();
    cleanup.push(worker.stop);
    const restored = await agent.client.restore({ id: made.checkpoint?.id ?? "", pid: worker.pid });
    cleanup.push(() => killQuietly(restored.pid));
    expect(alive(restored.pid)).toBe(true);
    worker.stop();
    await waitFor(() => !alive(restored.pid), { timeoutMs: 15_000, message: "the orphaned engine is ended" });
    await agent.process.waitForLine(/restored engine's worker is gone/);
  });

  /** `sleep 60` in new namespaces (`unshare` flags), where it is pid 1, as in a container; needs root. */
  async function namespaced(flags: string[]): Promise<string> {
    const child = spawn(
      "unshare",
      [...flags, "--fork", "--mount-proc", "sh", "-c", "readlink /proc/self/ns/pid; exec sleep 60"],
      {
        stdio: ["ignore", "pipe", "ignore"],
      },
    );
    cleanup.push(() => child.kill("SIGKILL"));
    return new Promise<string>((resolve, reject) => {
      child.stdout?.once("data", (data: Buffer) => resolve(data.toString().trim()));
      child.once("exit", (code) => reject(new Error(`unshare exited with ${code} (it needs root)`)));
    });
  }

  it("finds processes a worker names in its own pid namespace (a container's), and restores into its network", async () => {
    const log = join(dir, "ns-tools.log");
    agent = await startAgent(join(dir, "ns"), log);
    const engineNamespace = await namespaced(["--pid"]);
    expect(engineNamespace).toMatch(/^pid:\[\d+\]$/);
    const made = await agent.client.checkpoint({
      identity: { ...identity, extraParameters: { namespaced: "yes" } },
      pid: 1,
      pidNamespace: engineNamespace,
    });
    expect(made.checkpoint?.phase).toBe(CheckpointPhase.READY);
    const dump = (await toolCalls(log)).find((call) => call[1] === "dump") ?? [];
    expect(Number(dump[3])).not.toBe(1);
    // The dumped process is the namespaced sleep, known to the host by another number.
    const images = join(dir, "ns", made.checkpoint?.id ?? "", "images");
    const tree = JSON.parse(await readFile(join(images, "pstree.img"), "utf8"));
    expect(tree.pid).toBe(Number(dump[3]));
    expect(tree.argv).toEqual(["sleep", "60"]);

    // A worker in a pod of its own (pid and network namespaces): the restored engine joins its network only.
    const workerNamespace = await namespaced(["--pid", "--net"]);
    const restored = await agent.client.restore({
      id: made.checkpoint?.id ?? "",
      pid: 1,
      pidNamespace: workerNamespace,
    });
    cleanup.push(() => killQuietly(restored.pid));
    const restore = (await toolCalls(log)).find((call) => call[1] === "restore") ?? [];
    const joins = restore.filter((_, i) => restore[i - 1] === "--join-ns");
    expect(joins).toHaveLength(1);
    expect(joins[0]).toMatch(/^net:\/proc\/\d+\/ns\/net$/);

    const unknown = await agent.client.checkpoint({
      identity: { ...identity, extraParameters: { namespaced: "missing" } },
      pid: 4242,
      pidNamespace: engineNamespace,
    });
    expect(unknown.checkpoint?.message).toMatch(/no process with pid 4242 in pid:\[/);
  });
});
