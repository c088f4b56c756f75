// Disaggregated serving when the prefill worker dies (issue 10, "Failures"): a prefill worker SIGKILLed while the
// decode workers are pulling its prompts' KV blocks costs no request (the decode side recomputes the prompt, the
// frontend prefills on the decode worker when the prefill leg itself fails), nothing waits past the timeouts, and
// the fallbacks are counted. Once discovery has dropped the dead worker, the decode workers serve whole requests
// with no prefill leg, and a prefill worker that joins turns disaggregation back on.
//
// The prefill worker binds and advertises 127.0.0.2, the decode workers 127.0.0.1: different hosts to the decode
// workers, so they pull over TCP, whose connections die with the process. (A shared-memory region outlives a
// SIGKILLed owner, so a pull from it would still succeed.) Prompts are long and KV bytes per token are the
// simulated model's (112 KiB), so a transfer takes long enough for the kill to land during it.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { freePort, type NatsServer, type NodeProcess, startNatsServer, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Completion,
  chat,
  complete,
  expectServedBy,
  kvasir,
  MODEL,
  metricSum,
  scrape,
  startWorker,
  stopAll,
  type WorkerProcess,
  waitForInstances,
} from "./kvasir-processes.js";

const PREFILL_HOST = "127.0.0.2";
const DECODE_HOST = "127.0.0.1";
const PROMPT_TOKENS = 1500;
const CONCURRENT = 6;
// Bounds every request: a pull that cannot finish is abandoned after --kv-transfer-timeout.
const REQUEST_TIMEOUT_MS = 20_000;

let nats: NatsServer | undefined;
let frontend: NodeProcess | undefined;
let baseUrl = "";
let planeFlags: string[] = [];
let prefill: WorkerProcess | undefined;
let decodes: WorkerProcess[] = [];
const started: NodeProcess[] = [];
/** Shared-memory files of prefill workers that were SIGKILLed: nobody else unlinks them. */
const orphanedShm = new Set<string>();

async function startPrefill(): Promise<WorkerProcess> {
  const worker = await startWorker([
    ...planeFlags,
    "--disaggregation-mode",
    "prefill",
    "--host",
    PREFILL_HOST,
    "--system-port",
    String(await freePort()),
  ]);
  started.push(worker.process);
  return worker;
}

beforeAll(async () => {
  nats = await startNatsServer();
  // A short discovery TTL, so the dead prefill worker leaves the frontend's view within seconds.
  planeFlags = ["--discovery-backend", "nats", "--event-plane", "nats", "--nats-server", nats.url];
  planeFlags.push("--namespace", "disagg-faults", "--discovery-ttl", "2");
  const decode = async () => {
    const worker = await startWorker([
      ...planeFlags,
      "--disaggregation-mode",
      "decode",
      "--host",
      DECODE_HOST,
      "--kv-transfer-timeout",
      "5",
      "--system-port",
      String(await freePort()),
    ]);
    started.push(worker.process);
    return worker;
  };
  const [p, ...d] = await Promise.all([startPrefill(), decode(), decode()]);
  prefill = p;
  decodes = d;
  const port = await freePort();
  frontend = await kvasir(
    [
      "frontend",
      ...planeFlags,
      "--router-mode",
      "kv",
      "--http-host",
      "127.0.0.1",
      "--http-port",
      String(port),
    ],
    /frontend ready/,
  );
  started.push(frontend);
  baseUrl = `http://127.0.0.1:${port}`;
  await waitForInstances(
    baseUrl,
    [p, ...d].map((w) => w.instanceId),
  );
}, 40_000);

afterAll(async () => {
  await stopAll(started);
  await nats?.stop();
  for (const path of orphanedShm) rmSync(path, { force: true });
}, 20_000);

/** The frontend's disaggregation counters and the decode workers' transfer counters, now. */
async function snapshot() {
  const [front, ...texts] = await Promise.all(
    [baseUrl, ...decodes.map((d) => d.statusUrl ?? "")].map(scrape),
  );
  const disagg = (prefill: string) =>
    metricSum(front ?? "", "dynamo_frontend_disaggregated_requests_total", { model: MODEL, prefill });
  const decode = (name: string, labels: Record<string, string> = {}) =>
    texts.reduce((sum, text) => sum + metricSum(text, `dynamo_component_${name}`, labels), 0);
  return {
    remote: disagg("remote"),
    local: disagg("local"),
    fallback: disagg("fallback"),
    decodeRequests: decode("requests_total"),
    tcpTransfers: decode("kv_transfer_bytes_count", { transport: "tcp" }),
    transfers: decode("kv_transfer_bytes_count"),
    recomputed: decode("kv_transfer_fallbacks_total"),
    checksumFailures: decode("kv_transfer_fallbacks_total", { reason: "checksum" }),
  };
}

/** The prefix of the shared-memory files a process has mapped (its transfer engine's), read from /proc. */
function shmPrefixesOf(pid: number | undefined): string[] {
  const maps = readFileSync(`/proc/${pid}/maps`, "utf8");
  const prefixes = new Set<string>();
  for (const [, engine] of maps.matchAll(/\/dev\/shm\/(kvasir-\S*-)\d+(?= |$)/gm)) {
    if (engine) prefixes.add(engine);
  }
  return [...prefixes];
}

const tokens = (length: number, seed: number) =>
  Array.from({ length }, (_, k) => 1000 + ((k * 131 + seed * 7919) % 25_000));

function expectCompleted(result: Completion): { prefill: string; decode: string } {
  const servedBy = expectServedBy(result);
  expect(decodes.map((d) => d.instanceId)).toContain(servedBy.decode);
  return servedBy;
}

describe("the prefill worker dies", () => {
  it("SIGKILLed mid-transfer: every request completes through a fallback, within bounded time", async () => {
    const victim = prefill;
    if (!victim?.statusUrl) throw new Error("no prefill worker");
    const before = await snapshot();
    const sentAt = Date.now();
    const inFlight = Array.from({ length: CONCURRENT }, (_, i) =>
      complete(baseUrl, tokens(PROMPT_TOKENS, i), { timeoutMs: REQUEST_TIMEOUT_MS }),
    );
    // A decode leg dispatched while the prefill worker still holds blocks: a decode worker is pulling them.
    await waitFor(
      async () => {
        const [front, held] = await Promise.all([scrape(baseUrl), scrape(victim.statusUrl ?? "")]);
        return (
          metricSum(front, "dynamo_frontend_stage_requests", { stage: "dispatch", phase: "decode" }) > 0 &&
          metricSum(held, "dynamo_component_kv_transfer_held_blocks") > 0
        );
      },
      {
        timeoutMs: 10_000,
        intervalMs: 10,
        message: "a decode worker pulls KV blocks from the prefill worker",
      },
    );
    const shmPrefixes = shmPrefixesOf(victim.process.pid);
    victim.process.kill("SIGKILL");
    expect((await victim.process.exited).signal).toBe("SIGKILL");
    for (const prefix of shmPrefixes) {
      for (const name of readdirSync("/dev/shm")) {
        if (name.startsWith(prefix)) orphanedShm.add(`/dev/shm/${name}`);
      }
    }

    // Discovery lists the dead worker for up to its TTL (2 s): a request arriving now has its prefill leg fail,
    // and the frontend prefills it on a decode worker.
    const justAfter = complete(baseUrl, tokens(PROMPT_TOKENS, CONCURRENT), { timeoutMs: REQUEST_TIMEOUT_MS });

    const results = await Promise.all(inFlight);
    const elapsedMs = Date.now() - sentAt;
    for (const result of results) expectCompleted(result);
    expect(elapsedMs).toBeLessThan(REQUEST_TIMEOUT_MS);
    const fellBack = expectCompleted(await justAfter);
    expect(fellBack.prefill).toBe(fellBack.decode);

    const after = await snapshot();
    const fallbacks = after.fallback - before.fallback;
    const recomputed = after.recomputed - before.recomputed;
    // Each request is counted once by the frontend: prefilled remotely, or fallen back after its prefill leg failed.
    expect(after.remote - before.remote + fallbacks).toBe(CONCURRENT + 1);
    expect(fallbacks).toBeGreaterThanOrEqual(1);
    // The kill landed during pulls (or, at worst, during prefill legs): some request needed a fallback.
    expect(fallbacks - 1 + recomputed).toBeGreaterThan(0);
    // Pulls failed because the peer went away, not because bytes arrived wrong.
    expect(after.checksumFailures).toBe(before.checksumFailures);
    // Pulls that finished before the kill went over TCP; the others were recomputed.
    expect(after.tcpTransfers - before.tcpTransfers + recomputed).toBe(after.remote - before.remote);
    expect(after.decodeRequests - before.decodeRequests).toBe(CONCURRENT + 1);
  });

  it("once discovery drops it, the decode workers serve whole requests with no prefill leg", async () => {
    const decodeIds = decodes.map((d) => d.instanceId);
    await waitForInstances(baseUrl, decodeIds, { timeoutMs: 10_000 });
    const before = await snapshot();
    const results = await Promise.all([
      complete(baseUrl, tokens(300, 100)),
      chat(baseUrl, "served whole by a decode worker"),
      complete(baseUrl, tokens(200, 101)),
      chat(baseUrl, "another one for the decode pool"),
    ]);
    for (const result of results) {
      const { prefill: p, decode } = expectCompleted(result);
      expect(p).toBe(decode);
    }
    const after = await snapshot();
    expect(after.decodeRequests - before.decodeRequests).toBe(results.length);
    expect([after.remote, after.local, after.fallback]).toEqual([
      before.remote,
      before.local,
      before.fallback,
    ]);
    expect([after.transfers, after.recomputed]).toEqual([before.transfers, before.recomputed]);
  });

  it("a prefill worker that joins turns disaggregation back on", async () => {
    const joined = await startPrefill();
    await waitForInstances(baseUrl, [joined.instanceId, ...decodes.map((d) => d.instanceId)]);
    const before = await snapshot();
    const servedBy = expectCompleted(await complete(baseUrl, tokens(400, 200)));
    expect(servedBy.prefill).toBe(joined.instanceId);
    const after = await snapshot();
    expect(after.remote - before.remote).toBe(1);
    expect(after.tcpTransfers - before.tcpTransfers).toBe(1);
  });
});
