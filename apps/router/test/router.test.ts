// Two router replicas and two mocker workers as separate processes over a real nats-server, driven by an
// independent gRPC client (@grpc/grpc-js with the .proto files): BestWorker, streamed Generate, replica sync of
// active sequences, and KV-aware decisions from the workers' real KV events.
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { parseInstanceId } from "@kvasir/runtime";
import {
  freePort,
  type NatsServer,
  type NodeProcess,
  spawnNode,
  startNatsServer,
  waitFor,
} from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const MODEL = "Qwen/Qwen3-0.6B";
const NAMESPACE = "router-test";
const BLOCK = 16;
const repoFile = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

// What proto-loader gives back with longs as strings and enums as names.
interface BestWorkerReply {
  worker_id: string;
  dp_rank: number;
  overlap_blocks: number;
}
interface PotentialLoadReply {
  worker_id: string;
  potential_prefill_tokens: string;
  potential_decode_blocks: string;
  overlap_blocks: number;
}
interface GenerateReply {
  output: { token_ids: number[]; finish_reason: string; usage: { prompt_tokens: number } | null };
  worker_id: string;
  dp_rank: number;
}
type Unary = (req: object, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;
interface RouterStub extends grpc.Client {
  BestWorker: Unary;
  PotentialLoads: Unary;
  Free: Unary;
  Generate(req: object): grpc.ClientReadableStream<GenerateReply>;
}

const definition = protoLoader.loadSync("kvasir/router/v1/router.proto", {
  includeDirs: [repoFile("proto")],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
});
const pkg = grpc.loadPackageDefinition(definition) as unknown as {
  kvasir: {
    router: { v1: { RouterService: new (addr: string, creds: grpc.ChannelCredentials) => RouterStub } };
  };
};

function stubFor(url: string): RouterStub {
  return new pkg.kvasir.router.v1.RouterService(new URL(url).host, grpc.credentials.createInsecure());
}

function call<T>(
  stub: RouterStub,
  method: "BestWorker" | "PotentialLoads" | "Free",
  req: object,
): Promise<T> {
  return new Promise((resolve, reject) =>
    stub[method](req, (err, res) => (err ? reject(err) : resolve(res as T))),
  );
}

function generate(stub: RouterStub, req: object): Promise<GenerateReply[]> {
  return new Promise((resolve, reject) => {
    const out: GenerateReply[] = [];
    const stream = stub.Generate(req);
    stream.on("data", (m: GenerateReply) => out.push(m));
    stream.on("error", reject);
    stream.on("end", () => resolve(out));
  });
}

const range = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + i);

let nats: NatsServer;
const processes: NodeProcess[] = [];
let workerIds: bigint[] = [];
let routerA: RouterStub;
let routerB: RouterStub;
let routerBProcess: NodeProcess;
let metricsUrl: string;

async function startRouter(common: string[], extra: string[] = []) {
  const p = await spawnNode(
    repoFile("apps/router/src/main.ts"),
    [...common, "--router-replica-sync", ...extra],
    {
      readyLine: /router ready/,
    },
  );
  processes.push(p);
  const ready = JSON.parse(await p.waitForLine(/router ready/)) as { url: string; status_url?: string };
  return { stub: stubFor(ready.url), process: p, statusUrl: ready.status_url ?? "" };
}

beforeAll(async () => {
  nats = await startNatsServer();
  const common = ["--namespace", NAMESPACE, "--discovery-backend", "nats", "--event-plane", "nats"];
  common.push("--nats-server", nats.url);
  const workers = await Promise.all(
    [0, 1].map(() =>
      spawnNode(
        repoFile("apps/worker/src/main.ts"),
        [
          ...common,
          "--speedup-ratio",
          "20",
          "--kv-cache-block-size",
          String(BLOCK),
          "--num-gpu-blocks",
          "4096",
        ],
        { readyLine: /worker ready/ },
      ),
    ),
  );
  processes.push(...workers);
  workerIds = await Promise.all(
    workers.map(async (w) =>
      parseInstanceId(
        (JSON.parse(await w.waitForLine(/worker ready/)) as { instance_id: string }).instance_id,
      ),
    ),
  );
  const [a, b] = await Promise.all([
    startRouter(common, ["--system-port", String(await freePort())]),
    startRouter(common),
  ]);
  [routerA, routerB, routerBProcess, metricsUrl] = [a.stub, b.stub, b.process, `${a.statusUrl}/metrics`];
  // Both replicas see both workers.
  for (const stub of [routerA, routerB]) {
    await waitFor(
      async () =>
        (
          await call<{ loads: PotentialLoadReply[] }>(stub, "PotentialLoads", {
            token_ids: range(32, 0),
            model: MODEL,
          })
        ).loads.length === 2,
      { timeoutMs: 15_000, message: "router sees both workers" },
    );
  }
});

afterAll(async () => {
  for (const stub of [routerA, routerB]) stub?.close();
  for (const p of processes) p.kill("SIGTERM");
  await Promise.all(processes.map((p) => p.exited));
  await nats?.stop();
});

describe("kvasir router over gRPC", () => {
  it("answers BestWorker with one of the registered workers", async () => {
    const reply = await call<BestWorkerReply>(routerA, "BestWorker", {
      model: MODEL,
      token_ids: range(40, 5000),
    });
    expect(workerIds).toContain(BigInt(reply.worker_id));
    expect(reply.dp_rank).toBe(0);
    expect(reply.overlap_blocks).toBe(0);
  });

  it("streams Generate from the chosen worker, naming it on the first message", async () => {
    const replies = await generate(routerA, {
      request: {
        request_id: "gen-1",
        model: MODEL,
        token_ids: range(48, 7000),
        stop: { max_tokens: 6, ignore_eos: true },
      },
    });
    const first = replies[0];
    expect(first).toBeDefined();
    expect(workerIds).toContain(BigInt(first?.worker_id ?? "0"));
    expect(replies.flatMap((r) => r.output.token_ids)).toHaveLength(6);
    expect(replies.at(-1)?.output.finish_reason).toBe("FINISH_REASON_LENGTH");
    // Free ran at the end of the stream: no load is left booked on either replica.
    const loads = await call<{ loads: PotentialLoadReply[] }>(routerB, "PotentialLoads", {
      model: MODEL,
      token_ids: range(16, 90_000),
    });
    expect(loads.loads.map((l) => l.potential_decode_blocks)).toEqual(["1", "1"]);
  });

  it("streams Generate from the worker the caller names (direct)", async () => {
    for (const id of workerIds) {
      const replies = await generate(routerA, {
        request: {
          request_id: `direct-${id}`,
          model: MODEL,
          token_ids: range(20, 8000),
          stop: { max_tokens: 2, ignore_eos: true },
        },
        worker_id: id.toString(),
      });
      expect(replies[0]?.worker_id).toBe(id.toString());
      expect(replies.flatMap((r) => r.output.token_ids)).toHaveLength(2);
    }
  });

  it("shares a booking made on replica A with replica B", async () => {
    const prompt = range(64, 20_000);
    const booked = await call<BestWorkerReply>(routerA, "BestWorker", {
      request_id: "shared-1",
      model: MODEL,
      token_ids: prompt,
      update_states: true,
    });
    const probe = { model: MODEL, token_ids: range(16, 30_000) };
    const loadOn = async (worker: string) =>
      (await call<{ loads: PotentialLoadReply[] }>(routerB, "PotentialLoads", probe)).loads.find(
        (l) => l.worker_id === worker,
      );
    // The booked worker carries the 4 prompt blocks (and 64 prefill tokens) on top of the probe's own.
    await waitFor(async () => (await loadOn(booked.worker_id))?.potential_decode_blocks === "5", {
      timeoutMs: 5000,
      message: "replica B sees A's booking",
    });
    expect((await loadOn(booked.worker_id))?.potential_prefill_tokens).toBe(String(64 + 16));
    const other = workerIds.map(String).find((w) => w !== booked.worker_id) ?? "";
    expect((await loadOn(other))?.potential_decode_blocks).toBe("1");
    await call(routerA, "Free", { request_id: "shared-1" });
    await waitFor(async () => (await loadOn(booked.worker_id))?.potential_decode_blocks === "1", {
      timeoutMs: 5000,
      message: "replica B sees A's free",
    });
  });

  it("sends a hot prefix to the worker caching it until that worker's load outweighs the overlap", async () => {
    const prefix = range(64 * BLOCK, 100_000);
    // Warm one worker's cache with the prefix through a real generation.
    const warm = await generate(routerA, {
      request: {
        request_id: "warm",
        model: MODEL,
        token_ids: prefix,
        stop: { max_tokens: 1, ignore_eos: true },
      },
    });
    const hot = warm[0]?.worker_id ?? "";
    const cold = workerIds.map(String).find((w) => w !== hot) ?? "";
    // Its KV events reach the replica's index.
    await waitFor(
      async () => {
        const r = await call<BestWorkerReply>(routerA, "BestWorker", { model: MODEL, token_ids: prefix });
        return r.worker_id === hot && r.overlap_blocks === 64;
      },
      { timeoutMs: 10_000, message: "the warmed worker's blocks are indexed" },
    );
    // Book requests sharing the prefix (each with its own last block) without freeing them.
    const chosen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await call<BestWorkerReply>(routerA, "BestWorker", {
        request_id: `hot-${i}`,
        model: MODEL,
        token_ids: [...prefix, ...range(BLOCK, 200_000 + i * BLOCK)],
        update_states: true,
      });
      chosen.push(r.worker_id);
      if (r.worker_id === hot) expect(r.overlap_blocks).toBe(64);
    }
    expect(chosen[0]).toBe(hot);
    expect(chosen).toContain(cold);
    expect(chosen.filter((w) => w === hot).length).toBeGreaterThan(chosen.filter((w) => w === cold).length);
    for (let i = 0; i < 6; i++) await call(routerA, "Free", { request_id: `hot-${i}` });
  });

  it("exports Dynamo's router metrics", async () => {
    const text = await (await fetch(metricsUrl)).text();
    const requests = /^dynamo_component_router_requests_total\{[^}]*\} (\d+)/m.exec(text);
    expect(Number(requests?.[1])).toBeGreaterThanOrEqual(9);
    expect(text).toMatch(/^dynamo_component_router_kv_hit_rate_count\{/m);
    expect(text).toMatch(/^dynamo_router_overhead_total_ms_count\{/m);
    expect(text).toMatch(
      /^dynamo_component_kv_cache_events_applied\{[^}]*event_type="stored"[^}]*status="ok"[^}]*\} [1-9]/m,
    );
  });

  it("drains on SIGTERM: an open Generate stream finishes, then the router exits 0", async () => {
    const stream = routerB.Generate({
      request: {
        request_id: "drain",
        model: MODEL,
        token_ids: range(32, 300_000),
        stop: { max_tokens: 300, ignore_eos: true },
      },
    });
    const replies: GenerateReply[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on("data", (m: GenerateReply) => {
        if (replies.push(m) === 1) routerBProcess.kill("SIGTERM");
      });
      stream.on("error", reject);
      stream.on("end", resolve);
    });
    await done;
    expect(replies.flatMap((r) => r.output.token_ids)).toHaveLength(300);
    expect(replies.at(-1)?.output.finish_reason).toBe("FINISH_REASON_LENGTH");
    expect(await routerBProcess.exited).toMatchObject({ code: 0 });
  });
});
