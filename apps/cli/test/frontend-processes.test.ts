// `kvasir frontend --num-processes 2` over a real nats-server with two mocker workers: two frontend processes on one
// port, each registered in discovery and each serving requests; SIGTERM drains them all; kv mode syncs replicas.
import { request } from "node:http";
import { type AddressInfo, createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { createDiscovery, type Discovery } from "@kvasir/runtime";
import {
  freePort,
  type NatsServer,
  type NodeProcess,
  spawnNode,
  startNatsServer,
  waitFor,
} from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kvasir, MODEL, startWorker, stopAll, type WorkerProcess } from "./kvasir-processes.js";

const NAMESPACE = "frontend-processes-test";
const cli = fileURLToPath(new URL("../src/main.ts", import.meta.url));
let nats: NatsServer;
let discovery: Discovery;
let workers: WorkerProcess[] = [];
let common: string[];

/** One request on a connection of its own, so the primary hands each to the next frontend process. */
function fresh(url: string, body?: object): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      url,
      {
        agent: false,
        method: payload === undefined ? "GET" : "POST",
        headers: { "content-type": "application/json", connection: "close" },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${url}: timed out`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** Waits until several connections in a row (so every process) list both workers on /health. */
async function waitForBothWorkersEverywhere(baseUrl: string): Promise<void> {
  await waitFor(
    async () => {
      for (let i = 0; i < 4; i++) {
        const res = await fresh(`${baseUrl}/health`).catch(() => undefined);
        const health = res && (JSON.parse(res.body) as { models?: Record<string, { instances: string[] }> });
        if (health?.models?.[MODEL]?.instances.length !== 2) return false;
      }
      return true;
    },
    { timeoutMs: 15_000, message: "every frontend process lists both workers" },
  );
}

function completion(baseUrl: string, i: number) {
  return fresh(`${baseUrl}/v1/completions`, { model: MODEL, prompt: `prompt number ${i}`, max_tokens: 3 });
}

/** The frontend's `dynamo_frontend_requests_total`, summed over its labels, from a status server's /metrics. */
async function requestsServed(statusUrl: string): Promise<number> {
  const text = await (await fetch(`${statusUrl}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("dynamo_frontend_requests_total"))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

/** Runs `kvasir <args>` to its exit: the code and what it wrote on stderr. */
async function spawnRefusal(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = await spawnNode(cli, args);
  const { code } = await child.exited;
  return { code, stderr: child.stderr.join("\n") };
}

function frontendKeys(): Promise<string[]> {
  return discovery.list(`v1/instances/${NAMESPACE}/frontend/`).then((entries) => entries.map((e) => e.key));
}

/** The pids the primary logged for its frontend processes. */
function processPids(frontend: NodeProcess): number[] {
  return [...frontend.stdout, ...frontend.stderr]
    .filter((line) => line.includes('"frontend process ready"'))
    .map((line) => (JSON.parse(line) as { pid: number }).pid);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  nats = await startNatsServer();
  common = ["--discovery-backend", "nats", "--event-plane", "nats", "--nats-server", nats.url];
  common.push("--namespace", NAMESPACE);
  discovery = await createDiscovery({ backend: "nats", natsServers: nats.url });
  workers = await Promise.all([startWorker(common), startWorker(common)]);
}, 30_000);

afterAll(async () => {
  await stopAll(workers.map((worker) => worker.process));
  await discovery?.close();
  await nats?.stop();
});

describe("kvasir frontend --num-processes 2", () => {
  it("serves one port from two registered processes and drains them all on SIGTERM", async () => {
    const port = await freePort();
    const systemPort = await freePort();
    const frontend = await kvasir(
      [
        "frontend",
        ...common,
        "--http-host",
        "127.0.0.1",
        "--http-port",
        String(port),
        "--system-port",
        String(systemPort),
        "--num-processes",
        "2",
      ],
      /all frontend processes ready/,
    );
    try {
      const baseUrl = `http://127.0.0.1:${port}`;
      expect(await frontendKeys()).toHaveLength(2);
      const pids = processPids(frontend);
      expect(new Set(pids).size).toBe(2);
      await waitForBothWorkersEverywhere(baseUrl);

      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => completion(baseUrl, i)));
      for (const result of results) expect(result.status, result.body).toBe(200);
      // Each process's own /metrics, on --system-port + its index, counts the requests it served.
      const served = await Promise.all(
        [0, 1].map((i) => requestsServed(`http://127.0.0.1:${systemPort + i}`)),
      );
      expect(
        served.every((count) => count > 0),
        `served per process: ${served}`,
      ).toBe(true);
      expect(served.reduce((a, b) => a + b, 0)).toBe(8);

      frontend.kill("SIGTERM");
      expect(await frontend.exited).toEqual({ code: 0, signal: null });
      expect(pids.filter(isRunning)).toEqual([]);
      expect(await frontendKeys()).toEqual([]);
    } finally {
      await stopAll([frontend]);
    }
  }, 40_000);

  it("turns router replica sync on with --router-mode kv", async () => {
    const port = await freePort();
    const frontend = await kvasir(
      [
        "frontend",
        ...common,
        "--http-host",
        "127.0.0.1",
        "--http-port",
        String(port),
        "--router-mode",
        "kv",
        "--num-processes",
        "2",
      ],
      /all frontend processes ready/,
    );
    try {
      const line = await frontend.waitForLine(/router replica sync on/);
      expect(JSON.parse(line)).toMatchObject({ processes: 2 });
      const baseUrl = `http://127.0.0.1:${port}`;
      await waitForBothWorkersEverywhere(baseUrl);
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => completion(baseUrl, i)));
      for (const result of results) expect(result.status, result.body).toBe(200);
      // The KV routers the processes started (on their first requests) all sync with their replicas.
      const routers = [...frontend.stdout, ...frontend.stderr].filter((l) =>
        l.includes('"kv router started"'),
      );
      expect(routers.length).toBeGreaterThan(0);
      for (const router of routers) expect(JSON.parse(router)).toMatchObject({ replica_sync: true });
      frontend.kill("SIGTERM");
      expect(await frontend.exited).toEqual({ code: 0, signal: null });
    } finally {
      await stopAll([frontend]);
    }
  }, 40_000);

  it("restarts a frontend process that dies, and keeps serving", async () => {
    const port = await freePort();
    const frontend = await kvasir(
      [
        "frontend",
        ...common,
        "--http-host",
        "127.0.0.1",
        "--http-port",
        String(port),
        "--num-processes",
        "2",
      ],
      /all frontend processes ready/,
    );
    try {
      const [victim] = processPids(frontend);
      expect(victim).toBeDefined();
      process.kill(victim ?? 0, "SIGKILL");
      const died = JSON.parse(await frontend.waitForLine(/exited unexpectedly; restarting/));
      expect(died).toMatchObject({ pid: victim, signal: "SIGKILL", restart: 1 });
      await waitFor(() => processPids(frontend).length === 3, {
        message: "the replacement process is ready",
      });
      const baseUrl = `http://127.0.0.1:${port}`;
      await waitForBothWorkersEverywhere(baseUrl);
      const results = await Promise.all(Array.from({ length: 4 }, (_, i) => completion(baseUrl, i)));
      for (const result of results) expect(result.status, result.body).toBe(200);
      frontend.kill("SIGTERM");
      expect(await frontend.exited).toEqual({ code: 0, signal: null });
      expect(processPids(frontend).filter(isRunning)).toEqual([]);
    } finally {
      await stopAll([frontend]);
    }
  }, 40_000);

  it("exits 1 when the frontend processes cannot start", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as AddressInfo;
    // A process SIGKILLed by an earlier test stays registered until its TTL; this one must add none.
    const before = await frontendKeys();
    try {
      const child = await spawnNode(cli, [
        "frontend",
        ...common,
        "--http-host",
        "127.0.0.1",
        "--http-port",
        String(port),
        "--num-processes",
        "2",
      ]);
      expect(await child.exited).toEqual({ code: 1, signal: null });
      const output = [...child.stdout, ...child.stderr].join("\n");
      expect(output).toMatch(/EADDRINUSE/);
      expect(output).toMatch(/frontend process \d exited before it was ready/);
      expect(await frontendKeys()).toEqual(before);
    } finally {
      taken.close();
    }
  }, 30_000);

  it("refuses a memory event plane with --router-mode kv, and serve refuses --num-processes", async () => {
    const frontend = await spawnRefusal([
      "frontend",
      "--router-mode",
      "kv",
      "--event-plane",
      "memory",
      "--num-processes",
      "2",
    ]);
    expect(frontend.code).toBe(2);
    expect(frontend.stderr).toMatch(/memory event plane cannot be shared between processes/);
    const serve = await spawnRefusal(["serve", "--num-processes", "2"]);
    expect(serve.code).toBe(2);
    expect(serve.stderr).toMatch(/kvasir frontend --num-processes N/);
  }, 30_000);
});
