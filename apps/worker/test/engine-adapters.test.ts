// `--backend vllm|sglang` against the engine simulator as a separate process speaking each engine's protocol
// (`kvasir mocker --protocol vllm|sglang`, run through the engines' own command lines): generation, stop
// conditions, cancellation, KV events, load, an engine that dies and one slow to start.
import {
  create,
  fromBinary,
  GenerateRequestSchema,
  type GenerateResponse,
  type KvEvent,
  KvEventBatchSchema,
  type LoadMetrics,
  LoadMetricsSchema,
  WorkerService,
} from "@kvasir/protocol";
import {
  createClient,
  createDiscovery,
  createEventPlane,
  type Discovery,
  type EventPlane,
  kvEventsSubject,
  loadMetricsSubject,
  parseFlags,
} from "@kvasir/runtime";
import { freePort, spawnNode, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workerCommand } from "../src/command.js";
import { start, type Worker } from "../src/worker.js";
import { type SimulatedEngines, simulatedEngines } from "./simulated-engines.js";

const MODEL = "Qwen/Qwen3-0.6B";
/** The command lines a GPU user gives, with the engine's port set (the adapter picks one when it is not). */
const COMMANDS = {
  vllm: (port: number) =>
    `vllm serve ${MODEL} --max-model-len 4096 --num-gpu-blocks-override 512 --port ${port}`,
  sglang: (port: number) =>
    `python -m sglang.launch_server --model-path ${MODEL} --context-length 4096 --max-total-tokens 8192 --port ${port}`,
} as const;
type Backend = keyof typeof COMMANDS;

let engines: SimulatedEngines;
let uninstall: () => void;

beforeAll(() => {
  engines = simulatedEngines("--speedup-ratio 20");
  uninstall = engines.install();
});

afterAll(() => {
  uninstall?.();
  engines?.remove();
});

function prompt(length: number, offset = 0): number[] {
  return Array.from({ length }, (_, i) => 1000 + ((i * 7 + offset) % 5000));
}

function request(id: string, tokenIds: number[], maxTokens: number, more: Record<string, unknown> = {}) {
  return create(GenerateRequestSchema, {
    requestId: id,
    model: MODEL,
    tokenIds,
    stop: { maxTokens, ignoreEos: true },
    ...more,
  });
}

async function collect(stream: AsyncIterable<GenerateResponse>) {
  const tokens: number[] = [];
  let last: GenerateResponse | undefined;
  for await (const response of stream) {
    tokens.push(...response.tokenIds);
    last = response;
  }
  return { tokens, last };
}

async function startPlanes(namespace: string) {
  const discovery = await createDiscovery({ backend: "memory" });
  const events = await createEventPlane({ backend: "memory" });
  return { discovery, events, namespace };
}

function workerConfig(namespace: string, backend: Backend, enginePort: number, ...extra: string[]) {
  const command = COMMANDS[backend](enginePort);
  const argv = ["--backend", backend, "--engine-command", command, "--namespace", namespace, ...extra];
  return workerCommand.toConfig(parseFlags(workerCommand.flags, argv, {}, workerCommand.refused));
}

/** The engine's running-request count, from its own /metrics. */
async function engineRunning(metricsUrl: string, backend: Backend): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const name = backend === "vllm" ? "vllm:num_requests_running" : "sglang:num_running_reqs";
  const line = text.split("\n").find((l) => l.startsWith(name));
  return Number(line?.split(" ").at(-1));
}

describe.each([
  "vllm",
  "sglang",
] as const)("kvasir worker --backend %s over the simulated engine", (backend) => {
  let discovery: Discovery;
  let events: EventPlane;
  let worker: Worker;
  let client: ReturnType<typeof createClient<typeof WorkerService>>;
  let engineMetricsUrl: string;
  let workerMetricsUrl: string;
  const namespace = `adapter-${backend}`;
  const kvEvents: KvEvent[] = [];
  const loads: LoadMetrics[] = [];

  beforeAll(async () => {
    ({ discovery, events } = await startPlanes(namespace));
    const enginePort = await freePort();
    engineMetricsUrl = `http://127.0.0.1:${enginePort}/metrics`;
    const systemPort = await freePort();
    workerMetricsUrl = `http://127.0.0.1:${systemPort}/metrics`;
    // SGLang's default page size is 1; the adapter gives the engine Kvasir's block size.
    const extra = ["--engine-metrics-interval", "100", "--system-port", String(systemPort)];
    worker = await start(workerConfig(namespace, backend, enginePort, ...extra), {
      planes: { discovery, events },
    });
    client = createClient(WorkerService, worker.url);
    events.subscribe(kvEventsSubject(namespace, "backend"), (msg) => {
      kvEvents.push(...fromBinary(KvEventBatchSchema, msg.data).events);
    });
    events.subscribe(loadMetricsSubject(namespace, "backend"), (msg) => {
      loads.push(fromBinary(LoadMetricsSchema, msg.data));
    });
    const [card] = await discovery.list(`v1/mdc/${namespace}/`);
    expect(card?.value).toMatchObject({ name: MODEL, kvCacheBlockSize: 16, contextLength: 4096 });
    expect(await discovery.list(`v1/instances/${namespace}/backend/generate/`)).toHaveLength(1);
  });

  afterAll(async () => {
    await worker?.stop();
    await discovery?.close();
    await events?.close();
  });

  it("streams exactly max_tokens, token ids in and out, with usage", async () => {
    const { tokens, last } = await collect(client.generate(request(`${backend}-exact`, prompt(40), 24)));
    expect(tokens).toHaveLength(24);
    expect(last?.usage).toMatchObject({ promptTokens: 40, completionTokens: 24 });
    // The same prompt again: the engine's prefix cache holds its two full blocks.
    const again = await collect(client.generate(request(`${backend}-exact-again`, prompt(40), 4)));
    expect(again.last?.usage?.cachedTokens).toBe(32);
  });

  it("stops at a stop token id once min_tokens are out", async () => {
    const seeded = (id: string, stopTokenIds: number[] = []) =>
      create(GenerateRequestSchema, {
        requestId: id,
        model: MODEL,
        tokenIds: prompt(20, 3),
        stop: { maxTokens: 12, ignoreEos: true, stopTokenIds },
        sampling: { seed: 7n, temperature: 1 },
      });
    const free = await collect(client.generate(seeded(`${backend}-free`)));
    expect(free.tokens).toHaveLength(12);
    // The first token that appears only once from index 3 on: the seeded replay stops right there.
    const at = free.tokens.findIndex((t, i) => i >= 3 && free.tokens.indexOf(t) === i);
    const stopped = await collect(client.generate(seeded(`${backend}-stop`, [free.tokens[at] ?? -1])));
    expect(stopped.tokens).toEqual(free.tokens.slice(0, at + 1));
    expect(stopped.last?.finishReason).toBe(1); // FinishReason.STOP
  });

  it("relays the engine's KV events and moves the load while a request runs", async () => {
    const before = kvEvents.length;
    const controller = new AbortController();
    const stream = client.generate(request(`${backend}-long`, prompt(64, 9), 3000), {
      signal: controller.signal,
    });
    const received: number[] = [];
    const reading = (async () => {
      for await (const response of stream) received.push(...response.tokenIds);
    })().catch(() => {});
    await waitFor(() => received.length >= 5, { timeoutMs: 10_000 });
    // The prompt's four full blocks, hashed by Kvasir from the engine's token ids, stamped with this worker.
    await waitFor(() => kvEvents.slice(before).some((e) => e.data.case === "stored"), { timeoutMs: 10_000 });
    const stored = kvEvents.slice(before).find((e) => e.data.case === "stored");
    expect(stored?.workerId).toBe(worker.instanceId);
    expect(stored?.dpRank).toBe(0);
    await waitFor(() => loads.some((m) => m.numRequestsRunning === 1 && m.activeKvBlocks > 0n), {
      timeoutMs: 10_000,
    });
    expect(await engineRunning(engineMetricsUrl, backend)).toBe(1);

    // Cancelling the Connect stream aborts the engine's request.
    controller.abort();
    await reading;
    await waitFor(async () => (await engineRunning(engineMetricsUrl, backend)) === 0, { timeoutMs: 10_000 });
    await waitFor(() => loads.at(-1)?.numRequestsRunning === 0, { timeoutMs: 10_000 });
    expect(received.length).toBeLessThan(3000);
  });

  it("serves the engine's own metrics on the worker's /metrics beside its own", async () => {
    const engineName = backend === "vllm" ? "vllm:num_requests_running" : "sglang:num_running_reqs";
    await waitFor(async () => (await (await fetch(workerMetricsUrl)).text()).includes(engineName), {
      timeoutMs: 5000,
    });
    const text = await (await fetch(workerMetricsUrl)).text();
    expect(text).toContain("dynamo_component_requests_total");
    // One exposition: every family declared once.
    const types = text.split("\n").filter((l) => l.startsWith("# TYPE "));
    expect(new Set(types.map((l) => l.split(" ")[2])).size).toBe(types.length);
  });

  it("refuses a prompt longer than the engine's context as the caller's error", async () => {
    await expect(
      collect(client.generate(request(`${backend}-long-prompt`, prompt(5000), 4))),
    ).rejects.toThrow(/invalid_argument|\[invalid_argument\]/i);
  });
});

describe("the engine process under the worker", () => {
  it("registers only once the engine is ready, even when it is slow to start", async () => {
    const { discovery, events } = await startPlanes("adapter-slow");
    const enginePort = await freePort();
    const health = `http://127.0.0.1:${enginePort}/health`;
    // vLLM listens only once its model is loaded: the simulator waits 1.5 s before it does.
    const config = workerConfig("adapter-slow", "vllm", enginePort);
    if (config.engine.backend !== "vllm") throw new Error("vllm backend expected");
    const starting = start(
      {
        ...config,
        engine: {
          ...config.engine,
          http: {
            ...config.engine.http,
            engineCommand: `${config.engine.http.engineCommand} --startup-delay-ms 1500`,
          },
        },
      },
      { planes: { discovery, events } },
    );
    let started = false;
    let registeredBeforeReady = false;
    let polls = 0;
    void starting.then(() => {
      started = true;
    });
    while (!started) {
      const registered = (await discovery.list("v1/instances/adapter-slow/")).length > 0;
      const ready = await fetch(health).then(
        (r) => r.status === 200,
        () => false,
      );
      if (registered && !ready) registeredBeforeReady = true;
      polls++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const worker = await starting;
    expect(polls).toBeGreaterThan(5);
    expect(registeredBeforeReady).toBe(false);
    expect(await discovery.list("v1/instances/adapter-slow/")).toHaveLength(1);
    await worker.stop();
    // The engine went with the worker.
    await expect(fetch(health)).rejects.toThrow();
    await discovery.close();
    await events.close();
  });

  it("deregisters when the engine dies, restarts it (--engine-restart on-failure) and registers again", async () => {
    const { discovery, events } = await startPlanes("adapter-restart");
    const enginePort = await freePort();
    const worker = await start(
      workerConfig(
        "adapter-restart",
        "vllm",
        enginePort,
        "--engine-restart",
        "on-failure",
        "--engine-restart-backoff",
        "0.2",
      ),
      { planes: { discovery, events } },
    );
    const client = createClient(WorkerService, worker.url);
    const instances = () => discovery.list("v1/instances/adapter-restart/");
    expect(await instances()).toHaveLength(1);
    const pid = engines.pids().at(-1) ?? 0;
    process.kill(pid, "SIGKILL");
    await waitFor(async () => (await instances()).length === 0, { timeoutMs: 10_000 });
    expect(await discovery.list("v1/mdc/adapter-restart/")).toHaveLength(0);
    await waitFor(async () => (await instances()).length === 1, { timeoutMs: 20_000 });
    expect(engines.pids().at(-1)).not.toBe(pid);
    // The restarted engine serves.
    const { tokens } = await collect(client.generate(request("after-restart", prompt(20), 8)));
    expect(tokens).toHaveLength(8);
    await worker.stop();
    await discovery.close();
    await events.close();
  });

  it("stops the worker when the engine dies and no restart is allowed (the default)", async () => {
    const { discovery, events } = await startPlanes("adapter-die");
    const worker = await start(workerConfig("adapter-die", "vllm", await freePort()), {
      planes: { discovery, events },
    });
    const client = createClient(WorkerService, worker.url);
    process.kill(engines.pids().at(-1) ?? 0, "SIGKILL");
    await waitFor(async () => (await discovery.list("v1/instances/adapter-die/")).length === 0, {
      timeoutMs: 10_000,
    });
    // The worker's own server is gone too: a stopped worker takes no requests.
    await waitFor(
      async () =>
        collect(client.generate(request("after-death", prompt(8), 2))).then(
          () => false,
          () => true,
        ),
      { timeoutMs: 10_000 },
    );
    await worker.stop();
    await discovery.close();
    await events.close();
  });
});

describe("kvasir worker --engine-url: an engine started elsewhere", () => {
  it("serves through it, relays its KV events, and deregisters when it stops answering", async () => {
    const { discovery, events } = await startPlanes("adapter-attach");
    const [port, kvPort, replayPort] = [await freePort(), await freePort(), await freePort()];
    const kvEventsConfig = JSON.stringify({
      enable_kv_cache_events: true,
      publisher: "zmq",
      endpoint: `tcp://*:${kvPort}`,
      replay_endpoint: `tcp://*:${replayPort}`,
      topic: "kv-events",
    });
    const engine = await spawnNode(
      engines.env.KVASIR_MOCKER ?? "",
      [
        ...["--protocol", "vllm", "--model", MODEL, "--port", String(port), "--speedup-ratio", "20"],
        ...["--kv-events-config", kvEventsConfig],
      ],
      { readyLine: /simulated engine ready/, env: {} },
    );
    const argv = [
      ...["--backend", "vllm", "--engine-url", `http://127.0.0.1:${port}`, "--namespace", "adapter-attach"],
      ...["--kv-events-config", kvEventsConfig],
    ];
    const stored: KvEvent[] = [];
    events.subscribe(kvEventsSubject("adapter-attach", "backend"), (msg) => {
      stored.push(...fromBinary(KvEventBatchSchema, msg.data).events.filter((e) => e.data.case === "stored"));
    });
    // Told where the engine publishes (the same JSON it was started with), the worker subscribes there.
    const worker = await start(
      workerCommand.toConfig(parseFlags(workerCommand.flags, argv, {}, workerCommand.refused)),
      {
        planes: { discovery, events },
      },
    );
    const client = createClient(WorkerService, worker.url);
    const { tokens } = await collect(client.generate(request("attached", prompt(32), 6)));
    expect(tokens).toHaveLength(6);
    await waitFor(() => stored.some((e) => e.workerId === worker.instanceId), { timeoutMs: 10_000 });
    expect(await discovery.list("v1/instances/adapter-attach/")).toHaveLength(1);
    engine.kill("SIGKILL");
    await waitFor(async () => (await discovery.list("v1/instances/adapter-attach/")).length === 0, {
      timeoutMs: 15_000,
    });
    await worker.stop();
    await discovery.close();
    await events.close();
  });
});

describe("a data-parallel engine", () => {
  it("sends a request to the dp rank the router chose, and relays that rank's KV events and load", async () => {
    const { discovery, events } = await startPlanes("adapter-dp");
    const port = await freePort();
    const config = workerConfig("adapter-dp", "vllm", port, "--engine-metrics-interval", "50");
    if (config.engine.backend !== "vllm") throw new Error("vllm backend expected");
    const engine = {
      ...config.engine,
      http: {
        ...config.engine.http,
        engineCommand: `${config.engine.http.engineCommand} --data-parallel-size 2`,
      },
    };
    const worker = await start({ ...config, engine }, { planes: { discovery, events } });
    const [card] = await discovery.list("v1/mdc/adapter-dp/");
    expect(card?.value).toMatchObject({ runtimeConfig: { dataParallelSize: 2 } });
    const stored: KvEvent[] = [];
    const loads: LoadMetrics[] = [];
    events.subscribe(kvEventsSubject("adapter-dp", "backend"), (msg) => {
      stored.push(...fromBinary(KvEventBatchSchema, msg.data).events.filter((e) => e.data.case === "stored"));
    });
    events.subscribe(loadMetricsSubject("adapter-dp", "backend"), (msg) =>
      loads.push(fromBinary(LoadMetricsSchema, msg.data)),
    );
    const client = createClient(WorkerService, worker.url);
    const controller = new AbortController();
    const long = client.generate(request("dp1", prompt(48, 5), 3000, { dpRank: 1 }), {
      signal: controller.signal,
    });
    const reading = (async () => {
      for await (const _ of long)
        if (stored.length > 0 && loads.some((m) => m.dpRank === 1 && m.numRequestsRunning === 1)) break;
    })();
    await reading;
    controller.abort();
    expect(stored.length).toBeGreaterThan(0);
    expect(stored.every((e) => e.dpRank === 1)).toBe(true);
    // Rank 0's own series say it runs nothing (an even split of the engine's total would say otherwise).
    expect(loads.some((m) => m.dpRank === 0)).toBe(true);
    expect(loads.filter((m) => m.dpRank === 0).every((m) => m.numRequestsRunning === 0)).toBe(true);
    await worker.stop();
    await discovery.close();
    await events.close();
  });
});
