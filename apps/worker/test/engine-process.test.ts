// `kvasir worker --backend vllm` as a process with its engine as a child: the engine goes with the worker whether
// the worker stops, fails to start, or loses its engine (then it exits non-zero, so a supervisor restarts it).
import { spawnNode, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SimulatedEngines, simulatedEngines } from "./simulated-engines.js";

const main = new URL("../src/main.ts", import.meta.url).pathname;
let engines: SimulatedEngines;

beforeAll(() => {
  engines = simulatedEngines("--speedup-ratio 20");
});

afterAll(() => engines?.remove());

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function worker(engineCommand: string, ...extra: string[]) {
  const args = [
    "--backend",
    "vllm",
    "--engine-command",
    engineCommand,
    "--namespace",
    "engine-process",
    ...extra,
  ];
  return spawnNode(main, [...args, "--discovery-backend", "memory"], { env: engines.env });
}

describe("kvasir worker --backend vllm, process level", () => {
  it("kills the engine when it stops on SIGTERM, and exits 1 when its engine dies", async () => {
    const first = await worker("vllm serve Qwen/Qwen3-0.6B");
    await first.waitForLine(/worker ready/, 30_000);
    const pid = engines.pids().at(-1) ?? 0;
    expect(alive(pid)).toBe(true);
    first.kill("SIGTERM");
    expect((await first.exited).code).toBe(0);
    await waitFor(() => !alive(pid), { timeoutMs: 5000, message: "the engine went with its worker" });

    const second = await worker("vllm serve Qwen/Qwen3-0.6B");
    await second.waitForLine(/worker ready/, 30_000);
    process.kill(engines.pids().at(-1) ?? 0, "SIGKILL");
    expect((await second.exited).code).toBe(1);
    expect(second.stderr.concat(second.stdout).join("\n")).toMatch(/engine gone, stopping the worker/);
  });

  it("exits 1 and leaves no engine behind when the engine is not ready in time", async () => {
    const before = engines.pids().length;
    const child = await worker(
      "vllm serve Qwen/Qwen3-0.6B --startup-delay-ms 20000",
      "--engine-ready-timeout",
      "2",
    );
    await waitFor(() => engines.pids().length > before, { timeoutMs: 10_000 });
    const pid = engines.pids().at(-1) ?? 0;
    const exit = await child.exited;
    expect(exit.code).toBe(1);
    expect(child.stderr.concat(child.stdout).join("\n")).toMatch(
      /was not ready \(GET \/health\) within 2000 ms/,
    );
    expect(alive(pid)).toBe(false);
  });
});
