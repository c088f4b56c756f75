// The worker started in-process on the component host, over memory planes the test owns.
import { createServer, type Server } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  create,
  fromBinary,
  GenerateRequestSchema,
  type GenerateResponse,
  type InstanceRecord,
  type LoadMetrics,
  LoadMetricsSchema,
  parseModelDeploymentCard,
  WorkerService,
} from "@kvasir/protocol";
import {
  createClient,
  createDiscovery,
  createEventPlane,
  type Discovery,
  type EventPlane,
  loadMetricsSubject,
  type RuntimeConfig,
} from "@kvasir/runtime";
import { freePort, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type WorkerConfig } from "../src/worker.js";

let discovery: Discovery;
let events: EventPlane;
let counter = 0;

beforeAll(async () => {
  discovery = await createDiscovery({ backend: "memory" });
  events = await createEventPlane({ backend: "memory" });
});

afterAll(async () => {
  await discovery?.close();
  await events?.close();
});

function configFor(overrides: Partial<WorkerConfig> = {}): WorkerConfig {
  const runtime: RuntimeConfig = {
    namespace: `worker-start-${process.pid}-${counter++}`,
    discovery: { backend: "memory" },
    eventPlane: { backend: "memory" },
    logLevel: "error",
  };
  return {
    runtime,
    servedModelNames: ["test-model"],
    modelPath: "/nonexistent/model",
    disaggregationMode: "agg",
    engine: { backend: "mocker", mocker: { speedupRatio: 100, numGpuBlocks: 128, maxModelLen: 1024 } },
    host: "127.0.0.1",
    port: 0,
    drainTimeoutSeconds: 5,
    ...overrides,
  };
}

function request(id: string, maxTokens: number, extra: { disaggParamsJson?: string } = {}) {
  return create(GenerateRequestSchema, {
    requestId: id,
    model: "test-model",
    tokenIds: Array.from({ length: 40 }, (_, i) => 1000 + i),
    stop: { maxTokens, ignoreEos: true },
    ...extra,
  });
}

/** The worker's Connect server as a process on this host reaches it (its advertised name may not resolve). */
function localClient(url: string) {
  return createClient(WorkerService, `http://127.0.0.1:${new URL(url).port}`);
}

async function collect(stream: AsyncIterable<GenerateResponse>): Promise<GenerateResponse[]> {
  const out: GenerateResponse[] = [];
  for await (const response of stream) out.push(response);
  return out;
}

async function listening(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/live`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

describe("worker on the component host", () => {
  it("registers its advertised address and card, serves, and deregisters before draining on stop", async () => {
    const config = configFor({ advertiseHost: "worker-a.test", systemPort: await freePort() });
    // Slow enough that a 400-token stream is still running while the worker deregisters.
    config.engine.mocker.speedupRatio = 2;
    const ns = config.runtime.namespace;
    const metrics: LoadMetrics[] = [];
    const sub = events.subscribe(loadMetricsSubject(ns, "backend"), (m) =>
      metrics.push(fromBinary(LoadMetricsSchema, m.data)),
    );
    const worker = await start(config, { planes: { discovery, events }, instanceId: 0xabcn });
    expect(worker.instanceId).toBe(0xabcn);
    expect(worker.component).toBe("backend");
    expect(worker.url).toMatch(/^http:\/\/worker-a\.test:\d+$/);

    const [instance] = await discovery.list(`v1/instances/${ns}/backend/generate/`);
    expect(instance?.key).toMatch(/0000000000000abc$/);
    const record = instance?.value as InstanceRecord;
    expect(record.address).toBe(worker.url);
    const [cardEntry] = await discovery.list(`v1/mdc/${ns}/test-model/`);
    expect(parseModelDeploymentCard(cardEntry?.value)).toMatchObject({
      name: "test-model",
      kvCacheBlockSize: 16,
      contextLength: 1024,
      runtimeConfig: { totalKvBlocks: 128 },
    });
    // The empty cache is announced at start-up.
    await waitFor(() => metrics.some((m) => m.totalKvBlocks === 128n));

    const client = localClient(worker.url);
    const responses = await collect(client.generate(request("one", 7)));
    expect(responses.flatMap((r) => r.tokenIds)).toHaveLength(7);
    expect(responses.at(-1)?.usage).toMatchObject({ promptTokens: 40, completionTokens: 7 });

    // A long stream in flight while the worker stops: its entries go first, then the stream drains to its end.
    const long = client.generate(request("long", 400))[Symbol.asyncIterator]();
    const first = await long.next();
    let tokens = first.value?.tokenIds.length ?? 0;
    const stopping = worker.stop();
    await waitFor(async () => (await discovery.list(`v1/instances/${ns}/`)).length === 0, {
      timeoutMs: 2000,
    });
    expect(await discovery.list(`v1/mdc/${ns}/`)).toHaveLength(0);
    expect(metrics.at(-1)?.numRequestsRunning).toBe(1);
    for (let next = await long.next(); !next.done; next = await long.next())
      tokens += next.value.tokenIds.length;
    expect(tokens).toBe(400);
    await stopping;
    expect(await listening(config.systemPort ?? 0)).toBe(false);
    sub.unsubscribe();
  });

  it("returns transfer parameters from a prefill worker and refuses bad ones", async () => {
    const worker = await start(configFor({ disaggregationMode: "prefill" }), {
      planes: { discovery, events },
    });
    try {
      expect(worker.component).toBe("prefill");
      const client = localClient(worker.url);
      // vLLM's prefill-side kv_transfer_params, as the pipeline sends them.
      const prefillLeg = JSON.stringify({
        do_remote_decode: true,
        do_remote_prefill: false,
        remote_block_ids: null,
      });
      const responses = await collect(client.generate(request("p", 1, { disaggParamsJson: prefillLeg })));
      const last = responses.at(-1);
      expect(JSON.parse(last?.disaggParamsJson ?? "{}")).toMatchObject({
        do_remote_prefill: true,
        remote_request_id: "p",
      });
      const refused = await collect(client.generate(request("bad", 1, { disaggParamsJson: "[1" }))).catch(
        (error: unknown) => ConnectError.from(error),
      );
      expect(refused).toBeInstanceOf(ConnectError);
      expect(refused instanceof ConnectError && refused.code).toBe(Code.InvalidArgument);
    } finally {
      await worker.stop();
    }
  });

  it("leaks nothing when its port is taken: no discovery entry, no server left listening", async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const address = taken.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const systemPort = await freePort();
    const config = configFor({ port, systemPort });
    try {
      await expect(start(config, { planes: { discovery, events } })).rejects.toThrow(/EADDRINUSE|in use/i);
      expect(await discovery.list(`v1/instances/${config.runtime.namespace}/`)).toHaveLength(0);
      expect(await discovery.list(`v1/mdc/${config.runtime.namespace}/`)).toHaveLength(0);
      // The status server started before the Connect server failed; it must be closed again.
      expect(await listening(systemPort)).toBe(false);
      // And the planes the test owns are still usable.
      expect(await discovery.list("v1/")).toBeDefined();
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
