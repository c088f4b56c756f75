import { spawnNode } from "@kvasir/testing";
import { describe, expect, it } from "vitest";

const demo = new URL("./fixtures/command.ts", import.meta.url).pathname;

describe("runCommand and runUntilSignal", () => {
  it("prints help on --help and exits 0", async () => {
    const child = await spawnNode(demo, ["--help"]);
    expect(await child.exited).toEqual({ code: 0, signal: null });
    const help = child.stdout.join("\n");
    expect(help).toContain("Usage: kvasir demo [flags]");
    expect(help).toMatch(/--stop-ms <number> +Time stop\(\) takes \[default: 0; env: DEMO_STOP_MS\]/);
  });

  it("reports a bad flag on stderr and exits 2", async () => {
    const child = await spawnNode(demo, ["--stop-secs", "1"]);
    expect((await child.exited).code).toBe(2);
    expect(child.stderr.join("\n")).toMatch(
      /kvasir demo: unknown flag '--stop-secs'; valid flags: --stop-ms/,
    );
    expect(child.stdout).toEqual([]);
  });

  it("stops the service once on SIGTERM and exits 0", async () => {
    const child = await spawnNode(demo, [], { env: { DEMO_STOP_MS: "50" }, readyLine: /started stop-ms=50/ });
    child.kill("SIGTERM");
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(child.stdout.filter((line) => line === "stopping" || line === "stopped")).toEqual([
      "stopping",
      "stopped",
    ]);
  });

  it("exits at once on a second signal while stopping", async () => {
    const child = await spawnNode(demo, ["--stop-ms", "60000"], { readyLine: /started/ });
    child.kill("SIGINT");
    await child.waitForLine(/^stopping$/);
    child.kill("SIGTERM");
    expect(await child.exited).toEqual({ code: 130, signal: null });
    expect(child.stdout).not.toContain("stopped");
  });
});
