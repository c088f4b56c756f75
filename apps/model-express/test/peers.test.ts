// The scenario with real processes: the server fetches the model from the hub once; the first worker
// gets it from the server; the next ones from that worker (peer to peer); a peer killed mid-transfer is
// replaced by another; a corrupted chunk is fetched again; the hub served exactly one copy throughout.
import { mkdtemp, open, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type HubFixture, smallModel, startHubFixture } from "@kvasir/model-files/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  clusterIn,
  metricValue,
  type Server,
  sha256Of,
  spawnWorker,
  startServer,
  type WorkerProcess,
} from "./processes.js";

const MODEL = "acme/tiny";
const files = smallModel(1_200_000, 7);
const total = Object.values(files).reduce((n, d) => n + d.length, 0);

describe("model-express with peers (separate processes)", () => {
  let dir: string;
  let hub: HubFixture;
  let server: Server;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kvasir-model-express-"));
    hub = await startHubFixture({ [MODEL]: { files } });
    server = await startServer(clusterIn(dir), hub.url);
  });

  afterAll(async () => {
    for (const w of workers) w.process.kill("SIGKILL");
    server?.process.kill("SIGTERM");
    await Promise.all([...workers.map((w) => w.process.exited), server?.process.exited]);
    await hub?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("fetches from the source once and spreads peer to peer", async () => {
    const cluster = clusterIn(dir);
    const first = await spawnWorker(cluster, "w1", MODEL, server.url);
    workers.push(first);
    const r1 = await first.ready;
    expect(r1.from_server).toBe(total);
    expect(hub.bytesServed).toBe(total);
    // Wait for its peer registration to be visible before the next ones ask.
    await first.process.waitForLine(/serving model files to peers/);

    const [second, third] = await Promise.all([
      spawnWorker(cluster, "w2", MODEL, server.url),
      spawnWorker(cluster, "w3", MODEL, server.url),
    ]);
    workers.push(second, third);
    const [r2, r3] = await Promise.all([second.ready, third.ready]);
    for (const r of [r2, r3]) {
      expect(r.from_peers).toBe(total);
      expect(r.from_server).toBe(0);
      for (const [path, data] of Object.entries(files)) {
        const { createHash } = await import("node:crypto");
        expect(await sha256Of(join(r.dir, path))).toBe(createHash("sha256").update(data).digest("hex"));
      }
    }
    // Bytes from the source: one copy of the model, however many workers.
    expect(hub.bytesServed).toBe(total);
    const metrics = await (await fetch(`${server.statusUrl}/metrics`)).text();
    expect(metricValue(metrics, "kvasir_model_express_bytes_total", 'from="source"')).toBe(total);
    expect(metricValue(metrics, "kvasir_model_express_requests_total", 'result="miss"')).toBe(1);
    expect(metricValue(metrics, "kvasir_model_express_requests_total", 'result="hit"')).toBe(2);
  });

  it("completes from another peer when one is killed mid-transfer", async () => {
    const cluster = clusterIn(dir);
    // A slow peer: its share of the chunks is still in flight when it dies.
    const slow = await spawnWorker(cluster, "slow", MODEL, server.url, ["--model-peer-bandwidth-mb", "0.1"]);
    workers.push(slow);
    await slow.ready;
    const slowLine = await slow.process.waitForLine(/serving model files to peers/);
    const slowUrl = (JSON.parse(slowLine) as { url: string }).url;

    const next = await spawnWorker(cluster, "w4", MODEL, server.url);
    workers.push(next);
    const fetching = JSON.parse(
      await next.process.waitForLine(/fetching model files through model-express/, 30_000),
    ) as {
      peers: string[];
    };
    expect(fetching.peers).toContain(slowUrl);
    slow.process.kill("SIGKILL");
    const r4 = await next.ready;
    expect((r4.from_peers ?? 0) + (r4.from_server ?? 0)).toBe(total);
    const failed = await next.process.waitForLine(/file provider failed/);
    expect(failed).toContain(slowUrl);
    expect(await sha256Of(join(r4.dir, "model.safetensors"))).toBe(
      await sha256Of(
        join(
          workers[0]?.cache ?? "",
          "models--acme--tiny",
          "snapshots",
          hub.commitOf(MODEL),
          "model.safetensors",
        ),
      ),
    );
    expect(hub.bytesServed).toBe(total);
  });

  it("detects a corrupted chunk from a peer and fetches it again", async () => {
    const cluster = clusterIn(dir);
    // Bit rot on the first worker's disk: one byte in every chunk of its weights.
    const third = workers[2];
    if (!third) throw new Error("no third worker");
    const blobs = join(third.cache, "models--acme--tiny", "blobs");
    const weights = files["model.safetensors"]?.length ?? 0;
    const { createHash } = await import("node:crypto");
    const weightsSha = createHash("sha256")
      .update(files["model.safetensors"] ?? new Uint8Array())
      .digest("hex");
    expect(await readdir(blobs)).toContain(weightsSha);
    const handle = await open(join(blobs, weightsSha), "r+");
    for (let at = 0; at < weights; at += 64 * 1024)
      await handle.write(Buffer.from([0xff ^ (at & 0xff)]), 0, 1, at);
    await handle.close();

    const fresh = await spawnWorker(cluster, "w5", MODEL, server.url);
    workers.push(fresh);
    const r5 = await fresh.ready;
    expect(r5.corrupted_chunks).toBeGreaterThan(0);
    expect(await sha256Of(join(r5.dir, "model.safetensors"))).toBe(weightsSha);
    expect(hub.bytesServed).toBe(total);
  });
});
