import { createServer } from "node:net";
import { defaultModelDir } from "@kvasir/llm";
import type { ModelDeploymentCard } from "@kvasir/protocol";
import { create, LoadMetricsSchema, WorkerService } from "@kvasir/protocol";
import { createClient, createDiscovery, formatInstanceId } from "@kvasir/runtime";
import {
  type BusyThresholds,
  callWorker,
  pipeline,
  retry,
  route,
  selectorRouter,
  shed,
  WorkerPool,
} from "@kvasir/serving";
import { createLogger, createMetricsRegistry } from "@kvasir/telemetry";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";
import { ModelRegistry } from "../src/model-registry.js";
import { loadPreprocessor, type Preprocessor } from "../src/preprocessor.js";

const MODEL = "Qwen/Qwen3-0.6B";
const card: ModelDeploymentCard = {
  name: MODEL,
  aliases: ["qwen"],
  tokenizerPath: defaultModelDir(),
  contextLength: 4096,
  kvCacheBlockSize: 16,
  modelTypes: ["chat", "completions"],
  runtimeConfig: { totalKvBlocks: 1024, maxNumSeqs: 8, maxNumBatchedTokens: 2048, dataParallelSize: 1 },
};

/** A loopback port with nothing listening: every call to it is refused. */
async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

let app: ReturnType<typeof createApp>;
let pool: WorkerPool;

/** The app over `pool`, with the frontend's stages (shedding when thresholds are given). */
function appOver(thresholds: BusyThresholds = {}) {
  const target = { pool, router: selectorRouter("round-robin", pool) };
  const generate = pipeline(
    [shed(() => target, thresholds), retry(3), route(() => target)],
    callWorker((address) => createClient(WorkerService, address)),
  );
  return createApp({
    models: new ModelRegistry<Preprocessor>({ pools: [pool], load: loadPreprocessor }),
    generate,
    metrics: createMetricsRegistry(),
    log: createLogger("frontend-test", {}, { level: "error" }),
    config: { requestTimeoutSeconds: 30, maxBodyBytes: 1024 * 1024, migrationLimit: 3 },
  });
}

beforeAll(async () => {
  pool = new WorkerPool(await createDiscovery({ backend: "memory" }), {
    namespace: "test",
    component: "backend",
  });
  const id = formatInstanceId(1n);
  pool.apply({ type: "put", key: `v1/mdc/test/${MODEL}/${id}`, value: card });
  pool.apply({
    type: "put",
    key: `v1/instances/test/backend/generate/${id}`,
    value: { address: await deadAddress(), transport: "connect-h2c", metadata: {} },
  });
  app = appOver();
});

const chat = (body: unknown) =>
  app.request("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

const hello = [{ role: "user", content: "hello" }];

const badInputs: { name: string; body: unknown; status: number; param?: string | null }[] = [
  { name: "invalid JSON", body: '{"model": "x", "messages": [', status: 400 },
  { name: "a JSON array", body: "[1, 2, 3]", status: 400 },
  {
    name: "messages of the wrong type",
    body: { model: MODEL, messages: "hello" },
    status: 400,
    param: "messages",
  },
  {
    name: "max_tokens of the wrong type",
    body: { model: MODEL, messages: hello, max_tokens: "ten" },
    status: 400,
    param: "max_tokens",
  },
  { name: "empty messages", body: { model: MODEL, messages: [] }, status: 400, param: "messages" },
  { name: "a message without a role", body: { model: MODEL, messages: [{ content: "hi" }] }, status: 400 },
  { name: "missing model", body: { messages: hello }, status: 400, param: "model" },
  {
    name: "huge max_tokens",
    body: { model: MODEL, messages: hello, max_tokens: 10_000_000 },
    status: 400,
    param: "max_tokens",
  },
  { name: "n above 128", body: { model: MODEL, messages: hello, n: 129 }, status: 400, param: "n" },
  {
    name: "max_tokens 0 on chat",
    body: { model: MODEL, messages: hello, max_tokens: 0 },
    status: 400,
    param: "max_tokens",
  },
  {
    name: "top_logprobs without logprobs",
    body: { model: MODEL, messages: hello, top_logprobs: 2 },
    status: 400,
    param: "top_logprobs",
  },
  { name: "unknown model", body: { model: "no/such-model", messages: hello }, status: 404, param: "model" },
  {
    name: "a 10 MB body",
    body: { model: MODEL, messages: [{ role: "user", content: "x".repeat(10 * 1024 * 1024) }] },
    status: 413,
  },
];

describe("bad input", () => {
  it.each(
    badInputs,
  )("$name gets $status in OpenAI's error shape, and the server keeps answering", async (bad) => {
    const res = await chat(bad.body);
    expect(res.status).toBe(bad.status);
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(typeof body.error.message).toBe("string");
    expect(typeof body.error.type).toBe("string");
    expect(body.error).toHaveProperty("code");
    expect(body.error).toHaveProperty("param");
    if (bad.param !== undefined) expect(body.error.param).toBe(bad.param);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect((await app.request("/live")).status).toBe(200);
  });

  it("ignores unknown fields", async () => {
    // Valid apart from the extra field, so it gets as far as the (dead) worker: 503, not 400.
    const res = await chat({ model: MODEL, messages: hello, max_tokens: 4, frobnicate: { a: 1 } });
    expect(res.status).toBe(503);
  });

  it("answers 503 when every worker of the model refuses the connection", async () => {
    const res = await chat({ model: "qwen", messages: hello, max_tokens: 4, stream: true });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { type: string } };
    expect(body.error.type).toBe("service_unavailable");
  });

  it("refuses a token-id prompt outside the vocabulary on /v1/completions", async () => {
    const res = await app.request("/v1/completions", {
      method: "POST",
      body: JSON.stringify({ model: MODEL, prompt: [1, 2, 99_999_999] }),
    });
    expect(res.status).toBe(400);
  });

  it("keeps the client's x-request-id", async () => {
    const res = await chat({ model: "nope", messages: hello, max_tokens: 1 });
    expect(res.status).toBe(404);
    const again = await app.request("/v1/models/nope", { headers: { "x-request-id": "abc-123" } });
    expect(again.headers.get("x-request-id")).toBe("abc-123");
  });
});

describe("models and health", () => {
  it("lists served names and aliases, and retrieves a slashed id", async () => {
    const list = (await (await app.request("/v1/models")).json()) as {
      object: string;
      data: { id: string }[];
    };
    expect(list.object).toBe("list");
    expect(list.data.map((m) => m.id)).toEqual([MODEL, "qwen"]);
    const one = await app.request(`/v1/models/${MODEL}`);
    expect(one.status).toBe(200);
    expect(((await one.json()) as { id: string }).id).toBe(MODEL);
    expect((await app.request("/v1/models/Qwen/nope")).status).toBe(404);
  });

  it("reports instances per model on /health and Dynamo's names on /metrics", async () => {
    const health = (await (await app.request("/health")).json()) as {
      status: string;
      models: Record<string, { instances: string[] }>;
    };
    expect(health.status).toBe("healthy");
    expect(health.models[MODEL]?.instances).toEqual([formatInstanceId(1n)]);
    const text = await (await app.request("/metrics")).text();
    expect(text).toContain("dynamo_frontend_requests_total");
    expect(text).toContain(`dynamo_frontend_model_workers{model="${MODEL}"} 1`);
    // The 503s above were counted with Dynamo's error_type.
    expect(text).toMatch(/dynamo_frontend_requests_total\{[^}]*error_type="unavailable"[^}]*\} [1-9]/);
  });
});

describe("load shedding", () => {
  it("answers 503 'overloaded' while every worker is above --active-decode-blocks-threshold", async () => {
    const shedding = appOver({ activeDecodeBlocks: 0.9 });
    const ask = async () => {
      const res = await shedding.request("/v1/completions", {
        method: "POST",
        body: JSON.stringify({ model: MODEL, prompt: "hi", max_tokens: 2 }),
      });
      return { status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code };
    };
    const usage = (active: number) =>
      create(LoadMetricsSchema, { workerId: 1n, activeKvBlocks: BigInt(active), totalKvBlocks: 1024n });
    pool.applyLoad(usage(1000));
    expect(await ask()).toEqual({ status: 503, code: "overloaded" });
    // Below the threshold the request goes to the worker (which refuses connections here).
    pool.applyLoad(usage(10));
    expect(await ask()).toEqual({ status: 503, code: "worker_failed" });
  });
});
