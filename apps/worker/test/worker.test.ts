import { Code, ConnectError } from "@connectrpc/connect";
import {
  create,
  fromBinary,
  GenerateRequestSchema,
  type GenerateResponse,
  type LoadMetrics,
  LoadMetricsSchema,
  WorkerService,
} from "@kvasir/protocol";
import {
  createClient,
  createDiscovery,
  createEventPlane,
  type Discovery,
  type DiscoveryEvent,
  type EventPlane,
  loadMetricsSubject,
} from "@kvasir/runtime";
import { freePort, type NatsServer, spawnNode, startNatsServer, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const main = new URL("../src/main.ts", import.meta.url).pathname;
const namespace = "worker-test";
const ttlMs = 1500;

let nats: NatsServer;
let discovery: Discovery;
let events: EventPlane;

function workerArgs(...extra: string[]): string[] {
  return [
    "--backend",
    "mocker",
    "--namespace",
    namespace,
    "--discovery-backend",
    "nats",
    "--event-plane",
    "nats",
    "--nats-server",
    nats.url,
    "--discovery-ttl",
    String(ttlMs / 1000),
    "--speedup-ratio",
    "50",
    "--num-gpu-blocks",
    "256",
    "--context-length",
    "2048",
    ...extra,
  ];
}

function startWorkerProcess(...extra: string[]) {
  return spawnNode(main, workerArgs(...extra), { readyLine: /worker ready/ });
}

/** The url a worker logged in its "worker ready" line. */
function urlOf(lines: string[]): string {
  for (const line of lines) {
    const match = /"url":"([^"]+)"/.exec(line);
    if (match?.[1]) return match[1];
  }
  throw new Error(`no url in worker output:\n${lines.join("\n")}`);
}

function request(id: string, tokenIds: number[], maxTokens: number) {
  return create(GenerateRequestSchema, {
    requestId: id,
    model: "Qwen/Qwen3-0.6B",
    tokenIds,
    stop: { maxTokens, ignoreEos: true },
  });
}

function prompt(length: number, offset = 0): number[] {
  return Array.from({ length }, (_, i) => 1000 + ((i * 7 + offset) % 5000));
}

beforeAll(async () => {
  nats = await startNatsServer();
  discovery = await createDiscovery({ backend: "nats", natsServers: nats.url, ttlMs });
  events = await createEventPlane({ backend: "nats", natsServers: nats.url });
});

afterAll(async () => {
  await discovery?.close();
  await events?.close();
  await nats?.stop();
});

describe("worker processes over a real nats-server", () => {
  it("register, vanish within the TTL after SIGKILL, and deregister at once on SIGTERM", async () => {
    const prefix = `v1/instances/${namespace}/backend/generate/`;
    const seen = new Map<string, DiscoveryEvent["type"]>();
    const watch = discovery.watch(prefix);
    const watching = (async () => {
      for await (const event of watch) seen.set(event.key, event.type);
    })();
    const live = () => [...seen].filter(([, type]) => type === "put").map(([key]) => key);

    const [a, b] = await Promise.all([startWorkerProcess(), startWorkerProcess()]);
    await waitFor(() => live().length === 2, { timeoutMs: 10_000 });
    const cards = await discovery.list(`v1/mdc/${namespace}/`);
    expect(cards).toHaveLength(2);
    expect(cards[0]?.value).toMatchObject({
      name: "Qwen/Qwen3-0.6B",
      kvCacheBlockSize: 16,
      contextLength: 2048,
    });

    a.kill("SIGKILL");
    const killedAt = Date.now();
    await waitFor(() => live().length === 1, { timeoutMs: ttlMs * 4 });
    expect(Date.now() - killedAt).toBeLessThan(ttlMs * 4);

    b.kill("SIGTERM");
    const exit = await b.exited;
    expect(exit.code).toBe(0);
    // Deregistration happens before exit, so the key is gone without waiting for the TTL.
    await waitFor(() => live().length === 0, { timeoutMs: ttlMs / 2 });
    expect(await discovery.list(prefix)).toHaveLength(0);
    watch.stop();
    await watching;
  });
});

describe("WorkerService.Generate over a real socket", () => {
  let worker: ReturnType<typeof startWorkerProcess> extends Promise<infer T> ? T : never;
  let client: ReturnType<typeof createClient<typeof WorkerService>>;
  const metrics: LoadMetrics[] = [];
  let statusUrl: string;

  beforeAll(async () => {
    const systemPort = await freePort();
    statusUrl = `http://127.0.0.1:${systemPort}`;
    worker = await startWorkerProcess("--system-port", String(systemPort));
    client = createClient(WorkerService, urlOf(worker.stdout.concat(worker.stderr)));
    events.subscribe(loadMetricsSubject(namespace, "backend"), (msg) =>
      metrics.push(fromBinary(LoadMetricsSchema, msg.data)),
    );
  });

  afterAll(async () => {
    worker?.kill("SIGTERM");
    await worker?.exited;
  });

  it("streams exactly max_tokens tokens with ignore_eos and reports usage", async () => {
    const responses: GenerateResponse[] = [];
    for await (const response of client.generate(request("exact", prompt(100), 37))) responses.push(response);
    const tokens = responses.flatMap((r) => r.tokenIds);
    expect(tokens).toHaveLength(37);
    const last = responses.at(-1);
    expect(last?.finishReason).toBe(2); // FINISH_REASON_LENGTH
    expect(last?.usage).toMatchObject({ promptTokens: 100, completionTokens: 37 });
  });

  it("reuses the cached prefix of a repeated prompt", async () => {
    const tokens = prompt(160, 3);
    for await (const _ of client.generate(request("first", tokens, 2))) {
    }
    let cached = -1;
    for await (const r of client.generate(request("second", tokens, 2))) {
      if (r.usage) cached = r.usage.cachedTokens;
    }
    // 160 tokens = 10 full blocks of 16; vLLM recomputes at least the last token, so 9 or 10 blocks are reused.
    expect(cached).toBeGreaterThanOrEqual(144);
  });

  it("frees every block of an aborted stream before the next LoadMetrics", async () => {
    const controller = new AbortController();
    let received = 0;
    await expect(
      (async () => {
        for await (const r of client.generate(request("aborted", prompt(300, 11), 10_000), {
          signal: controller.signal,
        })) {
          received += r.tokenIds.length;
          if (received >= 5) controller.abort();
        }
      })(),
    ).rejects.toThrow();
    // Steps already under way may still report the request; the first report without it must hold no blocks.
    const abortedAt = metrics.length;
    const idle = (m: LoadMetrics) => m.numRequestsRunning === 0 && m.numRequestsWaiting === 0;
    await waitFor(() => metrics.slice(abortedAt).some(idle), { timeoutMs: 5000 });
    expect(metrics.slice(abortedAt).find(idle)?.activeKvBlocks).toBe(0n);
  });

  it("serves /health and Dynamo's component metrics on its system port", async () => {
    const health = await fetch(`${statusUrl}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ready", model: "Qwen/Qwen3-0.6B" });
    const text = await (await fetch(`${statusUrl}/metrics`)).text();
    expect(text).toMatch(/dynamo_component_requests_total\{[^}]*dynamo_endpoint="generate"[^}]*\} [1-9]/);
    expect(text).toMatch(/dynamo_component_kvstats_total_blocks\{[^}]*\} 256/);
  });

  it("refuses bad input with InvalidArgument and keeps serving other streams", async () => {
    const background = (async () => {
      let n = 0;
      for await (const r of client.generate(request("bystander", prompt(50, 5), 60))) n += r.tokenIds.length;
      return n;
    })();
    const cases = [
      { req: request("empty", [], 5), message: /empty/i },
      { req: request("zero", prompt(10), 0), message: /max_tokens/i },
      { req: request("long", prompt(4000), 5), message: /context/i },
    ];
    for (const { req, message } of cases) {
      const error = await (async () => {
        try {
          for await (const _ of client.generate(req)) {
          }
        } catch (e) {
          return ConnectError.from(e);
        }
        return undefined;
      })();
      expect(error?.code).toBe(Code.InvalidArgument);
      expect(error?.rawMessage).toMatch(message);
    }
    expect(await background).toBe(60);
  });
});

describe("kvasir worker --help", () => {
  it("documents every flag", async () => {
    const { workerCommand } = await import("../src/command.js");
    const child = await spawnNode(main, ["--help"], {});
    await child.exited;
    const help = child.stdout.join("\n");
    for (const flag of workerCommand.flags) {
      expect(help).toMatch(new RegExp(`--(\\[no-\\])?${flag.name}\\b`));
    }
  });
});
