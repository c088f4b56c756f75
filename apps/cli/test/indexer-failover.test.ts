// The standalone indexer is no single point of failure: two replicas on one namespace both ingest and both
// answer; a SIGKILLed replica restarted without a snapshot replays the JetStream stream (on by default with the
// NATS event plane) and holds every block again; and with every indexer down the frontend's KV router keeps
// routing with its own approximate index, saying so in its log and metrics.
import { freePort, type NatsServer, type NodeProcess, startNatsServer, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chat,
  kvasir,
  metricSum,
  scrape,
  startWorker,
  stopAll,
  type WorkerProcess,
  waitForInstances,
} from "./kvasir-processes.js";

const NAMESPACE = "indexer-failover-test";

interface IndexerProcess {
  process: NodeProcess;
  statusUrl: string;
}

let nats: NatsServer;
let common: string[];
const indexers: IndexerProcess[] = [];
let workers: WorkerProcess[] = [];
let frontend: NodeProcess | undefined;
let baseUrl: string;
let prompts = 0;

async function startIndexer(): Promise<IndexerProcess> {
  const port = await freePort();
  const process = await kvasir(["indexer", ...common, "--system-port", String(port)], /indexer ready/);
  return { process, statusUrl: `http://127.0.0.1:${port}` };
}

const blocks = async (indexer: IndexerProcess) =>
  metricSum(await scrape(indexer.statusUrl), "dynamo_kvindexer_blocks");

/** Distinct prompts of several blocks each; every one must be served. */
async function serve(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const result = await chat(baseUrl, `prompt ${prompts++}: ${"a long shared system prompt ".repeat(12)}`);
    expect(result.status, JSON.stringify(result.body)).toBe(200);
  }
}

beforeAll(async () => {
  nats = await startNatsServer();
  common = ["--discovery-backend", "nats", "--nats-server", nats.url, "--namespace", NAMESPACE];
  // Indexers first, so the stream exists before the workers' first events.
  indexers.push(...(await Promise.all([startIndexer(), startIndexer()])));
  workers = await Promise.all([startWorker(common), startWorker(common)]);
  const port = await freePort();
  frontend = await kvasir(
    [
      "frontend",
      ...common,
      "--http-host",
      "127.0.0.1",
      "--http-port",
      String(port),
      "--router-mode",
      "kv",
      "--use-remote-indexer",
    ],
    /frontend ready/,
  );
  baseUrl = `http://127.0.0.1:${port}`;
  await waitForInstances(
    baseUrl,
    workers.map((w) => w.instanceId),
  );
}, 40_000);

afterAll(async () => {
  await stopAll([frontend, ...indexers.map((i) => i.process), ...workers.map((w) => w.process)]);
  await nats?.stop();
});

describe("standalone indexers", () => {
  it("run side by side: both ingest every block and both answer lookups", async () => {
    await serve(8);
    const [a, b] = indexers;
    if (!a || !b) throw new Error("two indexers");
    await waitFor(async () => (await blocks(a)) > 0 && (await blocks(a)) === (await blocks(b)), {
      timeoutMs: 5000,
      message: "both indexers hold the same blocks",
    });
    for (const indexer of [a, b]) {
      const text = await scrape(indexer.statusUrl);
      expect(
        metricSum(text, "dynamo_kvindexer_requests_total", { endpoint: "find_matches" }),
      ).toBeGreaterThan(0);
    }
  });

  it("a SIGKILLed replica restarted without a snapshot replays the stream and loses no block", async () => {
    const killed = indexers.shift();
    if (!killed) throw new Error("no indexer");
    killed.process.kill("SIGKILL");
    await killed.process.exited;
    // Served meanwhile through the other replica (the killed one stays in discovery until its TTL).
    await serve(8);
    const restarted = await startIndexer();
    indexers.push(restarted);
    const survivor = indexers[0];
    if (!survivor) throw new Error("no survivor");
    const expected = await blocks(survivor);
    expect(expected).toBeGreaterThan(0);
    const held = async () => (await blocks(restarted)) === (await blocks(survivor));
    await waitFor(held, {
      timeoutMs: 8000,
      message: `the restarted indexer holds all ${expected} blocks`,
    }).finally(async () =>
      console.log(`SIGKILLed indexer restarted: ${await blocks(restarted)} of ${expected} blocks`),
    );
  });

  it("with every indexer down, requests are still routed, with the fallback in the log and metrics", async () => {
    for (const indexer of indexers.splice(0)) {
      indexer.process.kill("SIGKILL");
      await indexer.process.exited;
    }
    await serve(20);
    const text = await scrape(baseUrl);
    const fallbackLookups = metricSum(text, "dynamo_component_router_indexer_fallback_lookups_total");
    console.log(`every indexer down: 20 requests, 20 served, ${fallbackLookups} lookups from the fallback`);
    expect(metricSum(text, "dynamo_component_router_indexer_fallback")).toBe(1);
    expect(metricSum(text, "dynamo_component_router_indexer_fallback_lookups_total")).toBeGreaterThanOrEqual(
      20,
    );
    const logs = [...(frontend?.stdout ?? []), ...(frontend?.stderr ?? [])];
    expect(logs.filter((line) => line.includes("routing with the router's approximate index"))).toHaveLength(
      1,
    );

    // An indexer back: lookups go to it again.
    indexers.push(await startIndexer());
    await waitFor(
      async () => {
        await serve(1);
        return metricSum(await scrape(baseUrl), "dynamo_component_router_indexer_fallback") === 0;
      },
      { timeoutMs: 10_000, message: "the router asks the indexer again" },
    );
  });
});
