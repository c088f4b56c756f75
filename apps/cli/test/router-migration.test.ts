// Migration through the standalone router: a worker SIGKILLed under 20 streams is still in discovery until its
// TTL runs out, so the router must be told which workers failed each request (exclude_worker_ids) and the
// frontend must not retry the dead one. Every stream completes on the survivor.
import { freePort, type NatsServer, type NodeProcess, startNatsServer } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { complete, kvasir, MODEL, metricSum, scrape, stopAll, waitForInstances } from "./kvasir-processes.js";

let nats: NatsServer;
const processes: NodeProcess[] = [];
let frontendUrl: string;
const workerIds: string[] = [];
let doomed: NodeProcess;

beforeAll(async () => {
  nats = await startNatsServer();
  const planes = ["--discovery-backend", "nats", "--event-plane", "nats", "--nats-server", nats.url];
  for (let i = 0; i < 2; i++) {
    // Slow enough (speedup 2) that 300-token streams are still running when a worker is killed.
    const worker = await kvasir(
      ["worker", "--backend", "mocker", ...planes, "--speedup-ratio", "2", "--discovery-ttl", "30"],
      /worker ready/,
    );
    processes.push(worker);
    const ready = JSON.parse(await worker.waitForLine(/worker ready/)) as { instance_id: string };
    workerIds.push(ready.instance_id);
  }
  doomed = processes[0] as NodeProcess;
  processes.push(await kvasir(["router", ...planes], /router ready/));
  const port = await freePort();
  processes.push(
    await kvasir(
      [
        "frontend",
        ...planes,
        "--router-mode",
        "kv",
        "--use-remote-router",
        "--http-host",
        "127.0.0.1",
      ].concat(["--http-port", String(port)]),
      /frontend ready/,
    ),
  );
  frontendUrl = `http://127.0.0.1:${port}`;
  await waitForInstances(frontendUrl, workerIds);
});

afterAll(async () => {
  await stopAll(processes);
  await nats?.stop();
});

describe("migration through kvasir router", () => {
  it("completes every stream when a worker dies mid-stream and stays in discovery", async () => {
    const prompt = (i: number) => Array.from({ length: 32 }, (_, t) => 1000 * i + t);
    const results = Array.from({ length: 20 }, (_, i) =>
      complete(frontendUrl, prompt(i), { maxTokens: 300, timeoutMs: 60_000 }),
    );
    // Streams are under way on both workers; the dead one stays registered for its 30 s TTL.
    await new Promise((resolve) => setTimeout(resolve, 700));
    doomed.kill("SIGKILL");
    const done = await Promise.all(results);
    const failures = done.filter((r) => r.status !== 200 || r.body.usage?.completion_tokens !== 300);
    expect(failures.map((f) => JSON.stringify(f.body).slice(0, 200))).toEqual([]);
    const migrations = metricSum(await scrape(frontendUrl), "dynamo_frontend_model_migration_total", {
      model: MODEL,
    });
    expect(migrations).toBeGreaterThan(0);
    console.info(
      `router-migration: ${done.length - failures.length}/${done.length} streams completed after a SIGKILL, ${migrations} moved to another worker`,
    );
    // New requests go to the survivor at once, although discovery still lists the dead worker.
    for (let i = 0; i < 4; i++) {
      const result = await complete(frontendUrl, prompt(100 + i), { maxTokens: 4 });
      expect(result.status, JSON.stringify(result.body)).toBe(200);
    }
  });
});
