import { createDiscovery, type Discovery } from "@kvasir/runtime";
import { type NatsServer, spawnNode, startNatsServer, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const cli = new URL("../src/main.ts", import.meta.url).pathname;

describe("kvasir CLI", () => {
  let nats: NatsServer;
  let discovery: Discovery;

  beforeAll(async () => {
    nats = await startNatsServer();
    discovery = await createDiscovery({ backend: "nats", natsServers: nats.url });
  });

  afterAll(async () => {
    await discovery?.close();
    await nats?.stop();
  });

  it("`kvasir worker --backend mocker --discovery-backend nats` registers, and deregisters on SIGTERM", async () => {
    const worker = await spawnNode(
      cli,
      [
        "worker",
        "--backend",
        "mocker",
        "--discovery-backend",
        "nats",
        "--nats-server",
        nats.url,
        "--namespace",
        "cli",
      ],
      { readyLine: /worker ready/ },
    );
    await waitFor(async () => (await discovery.list("v1/instances/cli/backend/generate/")).length === 1, {
      timeoutMs: 5000,
    });
    const [card] = await discovery.list("v1/mdc/cli/");
    expect(card?.value).toMatchObject({ name: "Qwen/Qwen3-0.6B", modelTypes: ["chat", "completions"] });
    worker.kill("SIGTERM");
    expect((await worker.exited).code).toBe(0);
    expect(await discovery.list("v1/instances/cli/")).toHaveLength(0);
  });

  it("lists its commands and documents each command's flags", async () => {
    const usage = await spawnNode(cli, ["--help"]);
    await usage.exited;
    for (const command of ["serve", "worker", "frontend"]) expect(usage.stdout.join("\n")).toContain(command);
    const serveHelp = await spawnNode(cli, ["serve", "--help"]);
    expect((await serveHelp.exited).code).toBe(0);
    for (const flag of ["--workers", "--http-port", "--router-mode", "--num-gpu-blocks", "--speedup-ratio"]) {
      expect(serveHelp.stdout.join("\n")).toContain(flag);
    }
  });

  it("refuses an unknown command and an unknown flag with exit code 2", async () => {
    const unknown = await spawnNode(cli, ["nonsense"]);
    expect((await unknown.exited).code).toBe(2);
    const badFlag = await spawnNode(cli, ["worker", "--no-such-flag"]);
    expect((await badFlag.exited).code).toBe(2);
    expect(badFlag.stderr.join("\n")).toMatch(/no-such-flag/);
  });
});
