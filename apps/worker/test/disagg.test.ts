// A real prefill worker and real decode workers in one process (component host, memory planes this test owns),
// driven over Connect as the serving pipeline drives them: the prefill leg returns vLLM's kv_transfer_params, the
// decode leg pulls the KV bytes through the native transfer engine and then decodes.
import { readdirSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { create, GenerateRequestSchema, type GenerateResponse, WorkerService } from "@kvasir/protocol";
import {
  createClient,
  createDiscovery,
  createEventPlane,
  type Discovery,
  type EventPlane,
  type RuntimeConfig,
} from "@kvasir/runtime";
import { metricsText } from "@kvasir/telemetry";
import { freePort, spawnNode, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type Worker, type WorkerConfig } from "../src/worker.js";

const BLOCK = 16;
const BYTES_PER_TOKEN = 2048;
const PROMPT = 40; // 3 blocks, the last one partial
const PREFILL_LEG = JSON.stringify({
  do_remote_decode: true,
  do_remote_prefill: false,
  remote_engine_id: null,
  remote_block_ids: null,
  remote_host: null,
  remote_port: null,
});

let discovery: Discovery;
let events: EventPlane;
let counter = 0;
const started: Worker[] = [];

beforeAll(async () => {
  discovery = await createDiscovery({ backend: "memory" });
  events = await createEventPlane({ backend: "memory" });
});

afterAll(async () => {
  for (const w of started) await w.stop();
  await discovery?.close();
  await events?.close();
});

function configFor(mode: "prefill" | "decode", overrides: Partial<WorkerConfig> = {}): WorkerConfig {
  const runtime: RuntimeConfig = {
    namespace: `worker-disagg-${process.pid}-${counter++}`,
    discovery: { backend: "memory" },
    eventPlane: { backend: "memory" },
    logLevel: "error",
  };
  return {
    runtime,
    servedModelNames: ["test-model"],
    modelPath: "/nonexistent/model",
    disaggregationMode: mode,
    engine: {
      backend: "mocker",
      mocker: { speedupRatio: 100, numGpuBlocks: 256, maxModelLen: 1024, kvBytesPerToken: BYTES_PER_TOKEN },
    },
    host: "127.0.0.1",
    port: 0,
    drainTimeoutSeconds: 1,
    kvTransfer: { leaseSeconds: 30, timeoutSeconds: 10 },
    ...overrides,
  };
}

async function startWorker(config: WorkerConfig): Promise<Worker> {
  const worker = await start(config, { planes: { discovery, events } });
  started.push(worker);
  return worker;
}

function request(id: string, maxTokens: number, disaggParamsJson = "") {
  return create(GenerateRequestSchema, {
    requestId: id,
    model: "test-model",
    tokenIds: Array.from({ length: PROMPT }, (_, i) => 2000 + i),
    stop: { maxTokens, ignoreEos: true },
    disaggParamsJson,
  });
}

function client(worker: Worker) {
  return createClient(WorkerService, `http://127.0.0.1:${new URL(worker.url).port}`);
}

async function collect(stream: AsyncIterable<GenerateResponse>): Promise<GenerateResponse[]> {
  const out: GenerateResponse[] = [];
  for await (const response of stream) out.push(response);
  return out;
}

/** The value of one series in a worker's /metrics text (0 when absent); `labels` must all appear on the line. */
async function metric(worker: Worker, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await metricsText(worker.metrics);
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (wanted.every((w) => line.includes(w))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return 0;
}

/** The prefill leg: one token, and the params the decode leg gets verbatim. */
async function prefill(worker: Worker, id: string): Promise<Record<string, unknown>> {
  const responses = await collect(client(worker).generate(request(id, 1, PREFILL_LEG)));
  const last = responses.at(-1);
  expect(last?.tokenIds).toHaveLength(1);
  return JSON.parse(last?.disaggParamsJson ?? "");
}

describe("disaggregated prefill and decode workers", () => {
  it("prefill holds the prompt's blocks; decode pulls and verifies them over shared memory, frees them, decodes", async () => {
    const p = await startWorker(configFor("prefill"));
    const d = await startWorker(configFor("decode"));
    const params = await prefill(p, "r1");
    expect(params).toMatchObject({
      do_remote_prefill: true,
      do_remote_decode: false,
      remote_block_ids: [[0, 1, 2]],
      remote_engine_id: p.instanceId.toString(16).padStart(16, "0"),
      remote_request_id: "r1",
      remote_host: "127.0.0.1",
      tp_size: 1,
      kvasir_bytes_per_block: BLOCK * BYTES_PER_TOKEN,
      kvasir_release_url: p.url,
    });
    expect(params.remote_port).toEqual(expect.any(Number));
    expect(await metric(p, "dynamo_component_kv_transfer_held_blocks")).toBe(3);

    const out = await collect(client(d).generate(request("r1", 8, JSON.stringify(params))));
    expect(out.flatMap((r) => r.tokenIds)).toHaveLength(8);
    expect(out.at(-1)?.usage).toMatchObject({ promptTokens: PROMPT, completionTokens: 8 });
    const shm = { transport: "shm" };
    expect(await metric(d, "dynamo_component_kv_transfer_bytes_sum", shm)).toBe(3 * BLOCK * BYTES_PER_TOKEN);
    expect(await metric(d, "dynamo_component_kv_transfer_bytes_count", shm)).toBe(1);
    expect(await metric(d, "dynamo_component_kv_transfer_seconds_count", shm)).toBe(1);
    expect(await metric(d, "dynamo_component_kv_transfer_blocks_total", shm)).toBe(3);
    expect(await metric(d, "dynamo_component_kv_transfer_fallbacks_total")).toBe(0);
    // The release call reaches the prefill worker right after the pull.
    await waitFor(async () => (await metric(p, "dynamo_component_kv_transfer_held_blocks")) === 0);
    expect(await metric(p, "dynamo_component_kv_transfer_releases_total", { reason: "released" })).toBe(1);
    // Releasing again is harmless.
    expect(await client(p).releaseKvBlocks({ requestId: "r1" })).toMatchObject({
      released: false,
      numBlocks: 0,
    });
  });

  it("pulls over TCP from a prefill worker that binds every interface and advertises another host", async () => {
    const p = await startWorker(configFor("prefill", { host: "0.0.0.0" }));
    // A different advertised host: the decode worker cannot assume the prefill's shared memory is its own.
    const d = await startWorker(configFor("decode", { advertiseHost: "decode-1.test" }));
    const params = await prefill(p, "t1");
    const out = await collect(client(d).generate(request("t1", 4, JSON.stringify(params))));
    expect(out.at(-1)?.usage?.completionTokens).toBe(4);
    const tcp = { transport: "tcp" };
    expect(await metric(d, "dynamo_component_kv_transfer_bytes_sum", tcp)).toBe(3 * BLOCK * BYTES_PER_TOKEN);
    expect(await metric(d, "dynamo_component_kv_transfer_blocks_total", tcp)).toBe(3);
    await waitFor(async () => (await metric(p, "dynamo_component_kv_transfer_held_blocks")) === 0);
  });

  it("recomputes the prefill when the prefill worker is gone or a block fails its checksum, and completes", async () => {
    const p = await startWorker(configFor("prefill"));
    const d = await startWorker(configFor("decode"));
    const tampered = await prefill(p, "c1");
    const checksums = tampered.kvasir_block_checksums as string[];
    tampered.kvasir_block_checksums = [checksums[0], "0123456789abcdef", checksums[2]];
    const bad = await collect(client(d).generate(request("c1", 3, JSON.stringify(tampered))));
    expect(bad.at(-1)?.usage?.completionTokens).toBe(3);
    expect(await metric(d, "dynamo_component_kv_transfer_fallbacks_total", { reason: "checksum" })).toBe(1);
    expect(await metric(d, "dynamo_component_kv_transfer_blocks_total")).toBe(0);
    // A failed pull still frees the prefill's blocks.
    await waitFor(async () => (await metric(p, "dynamo_component_kv_transfer_held_blocks")) === 0);

    const orphaned = await prefill(p, "g1");
    await p.stop();
    const out = await collect(client(d).generate(request("g1", 3, JSON.stringify(orphaned))));
    expect(out.at(-1)?.usage?.completionTokens).toBe(3);
    expect(await metric(d, "dynamo_component_kv_transfer_fallbacks_total", { reason: "unreachable" })).toBe(
      1,
    );

    // A real vLLM prefill's dict (no Kvasir keys) cannot be pulled from: recomputed, counted.
    const vllm = { ...orphaned };
    for (const key of Object.keys(vllm)) if (key.startsWith("kvasir_")) delete vllm[key];
    await collect(client(d).generate(request("v1", 2, JSON.stringify(vllm))));
    expect(
      await metric(d, "dynamo_component_kv_transfer_fallbacks_total", { reason: "invalid_params" }),
    ).toBe(1);

    const refused = await collect(
      client(d).generate(
        request("x1", 2, JSON.stringify({ do_remote_prefill: true, remote_block_ids: [7] })),
      ),
    ).catch((error: unknown) => ConnectError.from(error));
    expect(refused instanceof ConnectError && refused.code).toBe(Code.InvalidArgument);
  });

  describe("against a transfer peer that accepts and never answers", () => {
    let blackhole: Server;
    const sockets: Socket[] = [];
    let closed = 0;
    let port = 0;
    beforeAll(async () => {
      blackhole = createServer((s) => {
        sockets.push(s);
        s.resume();
        // The decode worker hangs up once it gives up: its transfer thread is not left waiting on us.
        s.on("end", () => {
          closed++;
          s.end();
        });
      });
      await new Promise<void>((resolve) => blackhole.listen(0, "127.0.0.1", resolve));
      const address = blackhole.address();
      port = typeof address === "object" && address ? address.port : 0;
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => blackhole.close(resolve));
    });
    /** The prefill's params with the region pointed at the silent peer, over TCP. */
    const silenced = (params: Record<string, unknown>) => {
      const region = params.kvasir_region as Record<string, unknown>;
      return JSON.stringify({ ...params, kvasir_region: { ...region, tcp: { address: "127.0.0.1", port } } });
    };

    it("gives up after --kv-transfer-timeout and recomputes", async () => {
      const p = await startWorker(configFor("prefill"));
      const d = await startWorker(
        configFor("decode", {
          advertiseHost: "decode-2.test",
          kvTransfer: { leaseSeconds: 30, timeoutSeconds: 0.3 },
        }),
      );
      const params = await prefill(p, "s1");
      const started = performance.now();
      const out = await collect(client(d).generate(request("s1", 2, silenced(params))));
      expect(out.at(-1)?.usage?.completionTokens).toBe(2);
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(await metric(d, "dynamo_component_kv_transfer_fallbacks_total", { reason: "timeout" })).toBe(1);
      await waitFor(() => closed === sockets.length);
      await waitFor(async () => (await metric(p, "dynamo_component_kv_transfer_held_blocks")) === 0);
    });

    it("cancels the pull when the decode request is aborted, and releases the prefill's blocks", async () => {
      const p = await startWorker(configFor("prefill"));
      const d = await startWorker(configFor("decode", { advertiseHost: "decode-3.test" }));
      const params = await prefill(p, "a1");
      const connected = sockets.length;
      const controller = new AbortController();
      const stream = collect(
        client(d).generate(request("a1", 2, silenced(params)), { signal: controller.signal }),
      ).catch((error: unknown) => ConnectError.from(error));
      // Aborted while the pull waits on the silent peer.
      await waitFor(() => sockets.length > connected);
      controller.abort();
      const ended = await stream;
      expect(ended instanceof ConnectError && ended.code).toBe(Code.Canceled);
      await waitFor(async () => (await metric(p, "dynamo_component_kv_transfer_held_blocks")) === 0);
      expect(await metric(p, "dynamo_component_kv_transfer_releases_total", { reason: "released" })).toBe(1);
      await waitFor(() => closed === sockets.length);
      // An abort is not a failed transfer.
      expect(await metric(d, "dynamo_component_kv_transfer_fallbacks_total")).toBe(0);
      await waitFor(async () => (await metric(d, "dynamo_component_inflight_requests")) === 0);
    });
  });

  it("completes through the fallback when the prefill worker process dies mid-transfer", async () => {
    const port = await freePort();
    const main = new URL("../src/main.ts", import.meta.url).pathname;
    const child = await spawnNode(
      main,
      [
        ...["--disaggregation-mode", "prefill", "--host", "127.0.0.1", "--port", String(port)],
        ...[
          "--speedup-ratio",
          "100",
          "--kv-bytes-per-token",
          String(BYTES_PER_TOKEN),
          "--context-length",
          "1024",
        ],
        ...["--served-model-name", "test-model", "--discovery-backend", "memory", "--event-plane", "memory"],
      ],
      { readyLine: /worker ready/ },
    );
    const shmFiles = new Set(readdirSync("/dev/shm"));
    let params = "";
    try {
      const prefillClient = createClient(WorkerService, `http://127.0.0.1:${port}`);
      for await (const r of prefillClient.generate(request("k1", 1, PREFILL_LEG)))
        params ||= r.disaggParamsJson;
      expect(JSON.parse(params)).toMatchObject({ remote_request_id: "k1", remote_host: "127.0.0.1" });
      // Another advertised host, so the pull goes over TCP; the frozen prefill worker accepts and never answers.
      const d = await startWorker(configFor("decode", { advertiseHost: "decode-4.test" }));
      child.kill("SIGSTOP");
      const started = performance.now();
      const out = collect(client(d).generate(request("k1", 3, params)));
      await waitFor(async () => (await metric(d, "dynamo_component_inflight_requests")) === 1);
      await new Promise((r) => setTimeout(r, 100));
      child.kill("SIGKILL");
      const responses = await out;
      expect(responses.at(-1)?.usage?.completionTokens).toBe(3);
      // Well before --kv-transfer-timeout (10 s): the dead peer's connection failed the pull.
      expect(performance.now() - started).toBeLessThan(5000);
      expect(await metric(d, "dynamo_component_kv_transfer_fallbacks_total", { reason: "unreachable" })).toBe(
        1,
      );
    } finally {
      child.kill("SIGKILL");
      await child.exited;
      // A killed worker cannot unlink its shared-memory files.
      for (const file of readdirSync("/dev/shm")) {
        if (shmFiles.has(file)) continue;
        if (file.startsWith("kvasir-") && params.includes(file)) rmSync(`/dev/shm/${file}`, { force: true });
      }
    }
  });

  it("refuses prefills beyond --kv-transfer-max-held-mb with ResourceExhausted before running them", async () => {
    // Room for one prompt's 3 blocks.
    const maxHeldBytes = 3 * BLOCK * BYTES_PER_TOKEN;
    const p = await startWorker(
      configFor("prefill", { kvTransfer: { leaseSeconds: 30, timeoutSeconds: 10, maxHeldBytes } }),
    );
    await prefill(p, "m1");
    const refused = await collect(client(p).generate(request("m2", 1, PREFILL_LEG))).catch((error: unknown) =>
      ConnectError.from(error),
    );
    expect(refused instanceof ConnectError && refused.code).toBe(Code.ResourceExhausted);
    // Plain requests are not held, so they still run.
    expect((await collect(client(p).generate(request("m3", 1)))).at(-1)?.disaggParamsJson).toBe("");
    await client(p).releaseKvBlocks({ requestId: "m1" });
    expect((await prefill(p, "m2")).remote_request_id).toBe("m2");
  });

  it("frees held blocks when the lease runs out", async () => {
    const p = await startWorker(
      configFor("prefill", { kvTransfer: { leaseSeconds: 0.2, timeoutSeconds: 10 } }),
    );
    await prefill(p, "l1");
    expect(await metric(p, "dynamo_component_kv_transfer_held_blocks")).toBe(3);
    await waitFor(async () => (await metric(p, "dynamo_component_kv_transfer_held_blocks")) === 0);
    expect(await metric(p, "dynamo_component_kv_transfer_releases_total", { reason: "lease_expired" })).toBe(
      1,
    );
  });
});
