// The distributed set: frontend (--router-mode kv --use-remote-router), router (--use-remote-indexer), indexer
// (snapshots in Redis) and two mocker workers, each its own process, over a real nats-server. A chat completion
// flows frontend → router → indexer for the decision and frontend → worker for the tokens; a repeated prompt
// lands on the worker holding its blocks.
import { fileURLToPath } from "node:url";
import {
  freePort,
  type NatsServer,
  type NodeProcess,
  type RedisServer,
  spawnNode,
  startNatsServer,
  startRedisServer,
  waitFor,
} from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const MODEL = "Qwen/Qwen3-0.6B";
const NAMESPACE = "distributed-kv-test";
const repoFile = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

let nats: NatsServer;
let redis: RedisServer;
const processes: NodeProcess[] = [];
let baseUrl: string;

async function run(app: string, args: string[], ready: RegExp): Promise<NodeProcess> {
  const p = await spawnNode(repoFile(`apps/${app}/src/main.ts`), args, { readyLine: ready });
  processes.push(p);
  return p;
}

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNatsServer(), startRedisServer()]);
  const common = ["--namespace", NAMESPACE, "--discovery-backend", "nats", "--event-plane", "nats"];
  common.push("--nats-server", nats.url);
  await Promise.all([
    run(
      "indexer",
      [...common, "--redis-url", redis.url, "--kv-events-component", "backend"],
      /indexer ready/,
    ),
    run("worker", [...common, "--speedup-ratio", "20"], /worker ready/),
    run("worker", [...common, "--speedup-ratio", "20"], /worker ready/),
  ]);
  await run("router", [...common, "--use-remote-indexer"], /router ready/);
  const port = await freePort();
  await run(
    "frontend",
    [
      ...common,
      "--http-host",
      "127.0.0.1",
      "--http-port",
      String(port),
      "--router-mode",
      "kv",
      "--use-remote-router",
    ],
    /frontend ready/,
  );
  baseUrl = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      const health = (await (await fetch(`${baseUrl}/health`)).json()) as {
        models: Record<string, { instances: string[] }>;
      };
      return health.models[MODEL]?.instances.length === 2;
    },
    { timeoutMs: 15_000, message: "the frontend sees both workers" },
  );
});

afterAll(async () => {
  for (const p of processes) p.kill("SIGTERM");
  await Promise.all(processes.map((p) => p.exited));
  await Promise.all([nats?.stop(), redis?.stop()]);
});

interface ChatBody {
  choices: { message: { content: string } }[];
  usage: { prompt_tokens: number; prompt_tokens_details?: { cached_tokens: number } };
  nvext: { worker_id: { decode_worker_id: string } };
}

async function chat(content: string): Promise<ChatBody> {
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content }], max_tokens: 4 }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as ChatBody;
}

describe("frontend, router, indexer and workers as separate processes", () => {
  it("serves a chat completion and sends the repeated prompt to the worker that caches it", async () => {
    const prompt = "Explain how a KV-aware router picks a worker for a long shared prompt. ".repeat(10);
    const first = await chat(prompt);
    expect(first.choices[0]?.message.content.length).toBeGreaterThan(0);
    const hot = first.nvext.worker_id.decode_worker_id;
    // The worker's KV events reach the standalone indexer; then the router's decisions follow the cache.
    await waitFor(async () => ((await chat(prompt)).usage.prompt_tokens_details?.cached_tokens ?? 0) > 100, {
      timeoutMs: 10_000,
      message: "a repeated prompt hits the cache",
    });
    for (let i = 0; i < 3; i++) {
      const again = await chat(prompt);
      expect(again.nvext.worker_id.decode_worker_id).toBe(hot);
      expect(again.usage.prompt_tokens_details?.cached_tokens).toBeGreaterThan(100);
    }
  });
});
