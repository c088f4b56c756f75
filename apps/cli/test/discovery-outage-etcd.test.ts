// A 12 s etcd outage under `kvasir frontend` and two `kvasir worker` processes (etcd discovery, NATS events), the
// etcd restarted on the same ports with its data wiped: every lease is gone, so each service re-grants one and
// puts its entries back; the frontend's watch re-lists a store still missing some of them, and keeps those
// workers through the grace period instead of answering 404. Each service logs and counts the outage.
import {
  type EtcdServer,
  freePort,
  type NatsServer,
  sleep,
  startEtcdServer,
  startNatsServer,
} from "@kvasir/testing";
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

const NAMESPACE = "etcd-outage-test";
const OUTAGE_MS = 12_000;
const TTL_SECONDS = 3;

let etcd: EtcdServer;
let nats: NatsServer;
let workers: WorkerProcess[] = [];
let frontend: Awaited<ReturnType<typeof kvasir>> | undefined;
let lateFrontend: Awaited<ReturnType<typeof kvasir>> | undefined;
let baseUrl: string;
let statusUrl: string;
let common: string[];

async function startFrontend(extra: string[] = []) {
  const port = await freePort();
  const process = await kvasir(
    ["frontend", ...common, "--http-host", "127.0.0.1", "--http-port", String(port), ...extra],
    /frontend ready/,
  );
  return { process, url: `http://127.0.0.1:${port}` };
}

beforeAll(async () => {
  [etcd, nats] = await Promise.all([startEtcdServer(), startNatsServer()]);
  common = [
    "--discovery-backend",
    "etcd",
    "--etcd-endpoints",
    etcd.url,
    "--nats-server",
    nats.url,
    "--namespace",
    NAMESPACE,
    "--discovery-ttl",
    String(TTL_SECONDS),
  ];
  workers = await Promise.all([startWorker(common), startWorker(common)]);
  const systemPort = await freePort();
  const started = await startFrontend(["--system-port", String(systemPort)]);
  frontend = started.process;
  baseUrl = started.url;
  statusUrl = `http://127.0.0.1:${systemPort}`;
  await waitForInstances(
    baseUrl,
    workers.map((w) => w.instanceId),
  );
}, 40_000);

afterAll(async () => {
  await stopAll([lateFrontend, frontend, ...workers.map((w) => w.process)]);
  await Promise.all([etcd?.stop(), nats?.stop()]);
});

describe("an etcd outage longer than the lease TTL", () => {
  it("costs no 404; the services re-register into the wiped etcd and log and count the outage", async () => {
    const statuses: number[] = [];
    let sending = true;
    const load = (async () => {
      for (let i = 0; sending; i++) {
        const result = await chat(baseUrl, `outage ${i}`, { timeoutMs: 8000 }).catch(() => ({ status: 0 }));
        statuses.push(result.status);
        await sleep(50);
      }
    })();

    await sleep(500);
    await etcd.restart({ wipe: true, downMs: OUTAGE_MS });
    const during = statuses.length;
    // A frontend started now finds both workers in the new etcd alone: they re-registered.
    const late = await startFrontend();
    lateFrontend = late.process;
    await waitForInstances(
      late.url,
      workers.map((w) => w.instanceId),
      { timeoutMs: 10_000 },
    );
    expect((await chat(late.url, "after the outage")).status).toBe(200);

    await sleep(TTL_SECONDS * 1000 + 1000);
    sending = false;
    await load;
    const count = (status: number) => statuses.filter((s) => s === status).length;
    console.log(
      `discovery outage (etcd, ${OUTAGE_MS} ms, data wiped): ${statuses.length} requests (${during} during), ` +
        `${count(200)} ok, ${count(503)} 503, ${count(404)} 404, ${count(0)} failed`,
    );
    expect(count(404)).toBe(0);
    expect(statuses.length).toBeGreaterThan(20);
    expect(statuses.slice(-10)).toEqual(Array(10).fill(200));

    // Logs go to stderr: every service logged the disconnect and the reconnect once, the workers re-registered.
    for (const process of [frontend, ...workers.map((w) => w.process)]) {
      const lines = process?.stderr ?? [];
      expect(lines.filter((line) => line.includes('"discovery disconnected"'))).toHaveLength(1);
      expect(lines.filter((line) => line.includes('"discovery reconnected"'))).toHaveLength(1);
    }
    for (const worker of workers) {
      expect(worker.process.stderr.some((line) => line.includes('"discovery entries re-registered"'))).toBe(
        true,
      );
    }
    const metrics = await scrape(statusUrl);
    expect(metricSum(metrics, "dynamo_component_discovery_reconnects_total")).toBe(1);
    expect(metricSum(metrics, "dynamo_component_discovery_connected")).toBe(1);
  }, 44_000);
});
