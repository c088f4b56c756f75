// Frontend and two workers as separate processes over a real nats-server (discovery and event plane on NATS).
import { fileURLToPath } from "node:url";
import { fromBinary, type LoadMetrics, LoadMetricsSchema } from "@kvasir/protocol";
import { createEventPlane, type EventPlane, loadMetricsSubject, parseInstanceId } from "@kvasir/runtime";
import {
  freePort,
  type NatsServer,
  type NodeProcess,
  spawnNode,
  startNatsServer,
  waitFor,
} from "@kvasir/testing";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const MODEL = "Qwen/Qwen3-0.6B";
const NAMESPACE = "nats-frontend-test";
const repoFile = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

interface WorkerProcess {
  process: NodeProcess;
  instanceId: bigint;
}

let nats: NatsServer;
let workers: WorkerProcess[] = [];
let frontend: NodeProcess;
let client: OpenAI;
let baseUrl: string;
let events: EventPlane;
const latestLoad = new Map<bigint, LoadMetrics>();

async function startWorker(common: string[]): Promise<WorkerProcess> {
  const process = await spawnNode(repoFile("apps/worker/src/main.ts"), [...common, "--speedup-ratio", "10"], {
    readyLine: /worker ready/,
  });
  const ready = await process.waitForLine(/worker ready/);
  const fields = JSON.parse(ready) as { instance_id: string };
  return { process, instanceId: parseInstanceId(fields.instance_id) };
}

/** Sends a non-streamed chat request; returns the worker that served it (Dynamo's `nvext.worker_id`). */
async function servedBy(i: number): Promise<bigint> {
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: MODEL,
      messages: [{ role: "user", content: `question ${i}` }],
      max_tokens: 3,
    }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { nvext: { worker_id: { decode_worker_id: string } } };
  return BigInt(body.nvext.worker_id.decode_worker_id);
}

beforeAll(async () => {
  nats = await startNatsServer();
  const common = ["--discovery-backend", "nats", "--event-plane", "nats", "--nats-server", nats.url];
  common.push("--namespace", NAMESPACE);
  workers = await Promise.all([startWorker(common), startWorker(common)]);
  const port = await freePort();
  frontend = await spawnNode(
    repoFile("apps/frontend/src/main.ts"),
    [...common, "--http-host", "127.0.0.1", "--http-port", String(port)],
    { readyLine: /frontend ready/ },
  );
  baseUrl = `http://127.0.0.1:${port}`;
  const url = baseUrl;
  await waitFor(
    async () => {
      const res = await fetch(`${url}/health`);
      const health = (await res.json()) as { models: Record<string, { instances: string[] }> };
      return health.models[MODEL]?.instances.length === 2;
    },
    { timeoutMs: 15_000, message: "both workers on /health" },
  );
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
  events = await createEventPlane({ backend: "nats", natsServers: nats.url });
  events.subscribe(loadMetricsSubject(NAMESPACE, "backend"), (msg) => {
    const metrics = fromBinary(LoadMetricsSchema, msg.data);
    latestLoad.set(metrics.workerId, metrics);
  });
});

afterAll(async () => {
  await events?.close();
  frontend?.kill("SIGTERM");
  for (const w of workers) w.process.kill("SIGTERM");
  await Promise.all([frontend?.exited, ...workers.map((w) => w.process.exited)]);
  await nats?.stop();
});

describe("frontend with two worker processes over NATS", () => {
  it("sends requests to both workers in round-robin", async () => {
    const served: bigint[] = [];
    for (let i = 0; i < 4; i++) served.push(await servedBy(i));
    expect(served.every((id) => workers.some((w) => w.instanceId === id))).toBe(true);
    expect(new Set(served).size).toBe(2);
    expect(served[2]).toBe(served[0]);
    expect(served[3]).toBe(served[1]);
  });

  it("moves a stream to the other worker when its worker is killed mid-stream", async () => {
    const params = {
      model: MODEL,
      messages: [{ role: "user" as const, content: "A long answer please" }],
      stream: true as const,
      stream_options: { include_usage: true },
      max_tokens: 2000,
      ignore_eos: true,
    };
    const stream = await client.chat.completions.create(params);
    let chunks = 0;
    let killed: WorkerProcess | undefined;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      chunks++;
      if (chunks === 5) {
        await waitFor(() => [...latestLoad.values()].some((m) => m.numRequestsRunning > 0), {
          timeoutMs: 5000,
        });
        const busy = [...latestLoad.values()].find((m) => m.numRequestsRunning > 0);
        killed = workers.find((w) => w.instanceId === busy?.workerId);
        killed?.process.kill("SIGKILL");
      }
      for (const choice of chunk.choices) finish = choice.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(killed).toBeDefined();
    expect((await killed?.process.exited)?.signal).toBe("SIGKILL");
    expect(finish).toBe("length");
    expect(usage?.completion_tokens).toBe(2000);
  });
});
