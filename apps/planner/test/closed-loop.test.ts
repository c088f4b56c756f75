// The planner closing the loop for real: Prometheus scrapes a frontend; mocker workers serve; the planner in sla
// mode reads the frontend's metrics from Prometheus and starts and stops `kvasir worker` processes (local
// connector). A load step up makes it add workers that register and take traffic; a step down makes it drain and
// remove them, and no request fails on the way.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  freePort,
  type NatsServer,
  type NodeProcess,
  sleep,
  spawnNode,
  startNatsServer,
  waitFor,
} from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PrometheusServer, startPrometheus } from "./prometheus.js";

const cli = fileURLToPath(new URL("../../cli/src/main.ts", import.meta.url));
const MODEL = "Qwen/Qwen3-0.6B";
const NAMESPACE = "planner-closed-loop";
const SPEEDUP = 10;

/**
 * The engine as the planner sees it (times after the speedup), and the mocker's --perf-profile (the same times
 * before it): one engine keeps ITL within 20 ms up to 512 active KV tokens, about five requests of 50 tokens
 * a second.
 */
const EFFECTIVE = {
  prefill_isl: [16, 256, 1024, 4096],
  prefill_ttft_ms: [2, 5, 15, 50],
  decode_active_kv_tokens: [64, 512, 2048, 8192],
  decode_context_length: [64, 512, 2048],
  decode_itl: [
    [5, 5, 5],
    [20, 20, 20],
    [50, 50, 50],
    [150, 150, 150],
  ],
};
const scaled = (k: number) => ({
  ...EFFECTIVE,
  prefill_ttft_ms: EFFECTIVE.prefill_ttft_ms.map((v) => v * k),
  decode_itl: EFFECTIVE.decode_itl.map((row) => row.map((v) => v * k)),
});

let nats: NatsServer;
let prometheus: PrometheusServer;
let dir: string;
let frontend: NodeProcess;
let handWorker: NodeProcess;
let handWorkerId: string;
let planner: NodeProcess;
let baseUrl: string;
let plannerStatus: string;

function kvasir(args: string[], readyLine: RegExp): Promise<NodeProcess> {
  return spawnNode(cli, args, { readyLine, readyTimeoutMs: 30_000 });
}

async function instances(): Promise<string[]> {
  const res = await fetch(`${baseUrl}/health`).catch(() => undefined);
  if (!res) return [];
  const body = (await res.json()) as { models?: Record<string, { instances: string[] }> };
  return body.models?.[MODEL]?.instances ?? [];
}

interface Outcome {
  status: number;
  worker?: string;
  error?: string;
}

/** One completion of 50 tokens; the worker that decoded it, in /health's hex form. */
async function request(i: number): Promise<Outcome> {
  try {
    const res = await fetch(`${baseUrl}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: MODEL,
        prompt: `request ${i}: ${"the planner sizes pools to the traffic it sees ".repeat(8)}`,
        max_tokens: 50,
      }),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    if (res.status !== 200 || text.includes('"error"'))
      return { status: res.status, error: text.slice(0, 300) };
    const id = /"decode_worker_id":"?(\d+)/.exec(text)?.[1];
    return { status: 200, ...(id ? { worker: BigInt(id).toString(16).padStart(16, "0") } : {}) };
  } catch (error) {
    return { status: 0, error: String(error) };
  }
}

/** Open-loop load at `rps` until `until()` holds (checked every 250 ms) or `maxMs` passes. */
async function load(rps: number, until: () => Promise<boolean>, maxMs: number, outcomes: Outcome[]) {
  const inFlight: Promise<void>[] = [];
  const started = Date.now();
  let i = outcomes.length;
  let next = Date.now();
  let lastCheck = 0;
  while (Date.now() - started < maxMs) {
    const now = Date.now();
    if (now - lastCheck > 250) {
      lastCheck = now;
      if (await until()) break;
    }
    while (next <= Date.now()) {
      const n = i++;
      inFlight.push(request(n).then((o) => void outcomes.push(o)));
      next += 1000 / rps;
    }
    await sleep(10);
  }
  await Promise.all(inFlight);
  return Date.now() - started;
}

beforeAll(async () => {
  nats = await startNatsServer();
  dir = mkdtempSync(join(tmpdir(), "kvasir-planner-"));
  const plannerProfile = join(dir, "planner-profile.json");
  const mockerProfile = join(dir, "mocker-profile.json");
  writeFileSync(plannerProfile, JSON.stringify(EFFECTIVE));
  writeFileSync(mockerProfile, JSON.stringify(scaled(SPEEDUP)));
  const planes = [
    "--namespace",
    NAMESPACE,
    "--discovery-backend",
    "nats",
    "--event-plane",
    "nats",
    "--nats-server",
    nats.url,
  ];
  const workerArgs = [
    "--backend",
    "mocker",
    ...planes,
    "--perf-profile",
    mockerProfile,
    "--speedup-ratio",
    String(SPEEDUP),
  ];
  const httpPort = await freePort();
  baseUrl = `http://127.0.0.1:${httpPort}`;
  [frontend, handWorker] = await Promise.all([
    kvasir(
      ["frontend", ...planes, "--http-host", "127.0.0.1", "--http-port", String(httpPort)],
      /frontend ready/,
    ),
    kvasir(["worker", ...workerArgs], /worker ready/),
  ]);
  handWorkerId = (JSON.parse(await handWorker.waitForLine(/worker ready/)) as { instance_id: string })
    .instance_id;
  prometheus = await startPrometheus([`127.0.0.1:${httpPort}`], "1s");
  const systemPort = await freePort();
  plannerStatus = `http://127.0.0.1:${systemPort}`;
  planner = await kvasir(
    [
      "planner",
      ...planes,
      "--environment",
      "local",
      "--mode",
      "agg",
      "--optimization-target",
      "sla",
      "--ttft",
      "200",
      "--itl",
      "20",
      "--profile-results-dir",
      plannerProfile,
      "--adjustment-interval",
      "3",
      "--scale-down-stabilization",
      "4",
      "--min-endpoint",
      "1",
      "--max-endpoint",
      "3",
      "--metric-pulling-prometheus-endpoint",
      prometheus.url,
      `--agg-worker-args=${workerArgs.join(" ")}`,
      "--system-port",
      String(systemPort),
    ],
    /planner ready/,
  );
}, 90_000);

afterAll(async () => {
  const stop = async (p: NodeProcess | undefined) => {
    if (!p) return;
    p.kill("SIGTERM");
    const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
    await p.exited;
    clearTimeout(timer);
  };
  // The planner first: it stops the workers it started.
  await stop(planner);
  await Promise.all([stop(frontend), stop(handWorker)]);
  await prometheus?.stop();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("planner closed loop (sla mode, local connector, Prometheus)", () => {
  it("adds workers on a load step up that take traffic, drains them on the step down, fails no request", async () => {
    await waitFor(async () => (await instances()).length === 1, { timeoutMs: 15_000, message: "one worker" });
    const outcomes: Outcome[] = [];
    // Quiet: one worker is enough.
    await load(3, async () => false, 4000, outcomes);
    expect(await instances()).toEqual([handWorkerId]);

    // Step up: the planner adds workers, which register and serve.
    let peak = 1;
    const servedByNew = () => outcomes.some((o) => o.worker !== undefined && o.worker !== handWorkerId);
    await load(
      12,
      async () => {
        peak = Math.max(peak, (await instances()).length);
        return peak >= 2 && servedByNew();
      },
      25_000,
      outcomes,
    );
    const decisionLog = () =>
      [...planner.stdout, ...planner.stderr]
        .filter((l) => l.includes('"planner decision"'))
        .slice(-6)
        .join("\n");
    expect(peak, decisionLog()).toBeGreaterThanOrEqual(2);
    expect(servedByNew()).toBe(true);

    // Step down: the planner drains its workers; the hand-started one stays.
    await load(3, async () => (await instances()).join() === handWorkerId, 20_000, outcomes);
    expect(await instances(), decisionLog()).toEqual([handWorkerId]);

    const failed = outcomes.filter((o) => o.status !== 200);
    expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);

    const metrics = await (await fetch(`${plannerStatus}/metrics`)).text();
    expect(metrics).toMatch(
      /dynamo_planner_scaling_actions_total\{[^}]*pool="backend"[^}]*direction="up"[^}]*\} [1-9]/,
    );
    expect(metrics).toMatch(/dynamo_planner_scaling_actions_total\{[^}]*direction="down"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/dynamo_planner_observed_ttft_ms\{[^}]*\} [0-9.]+/);
    const decisions = [...planner.stdout, ...planner.stderr].filter((l) => l.includes('"planner decision"'));
    expect(decisions.some((l) => /"reason":"sla: /.test(l))).toBe(true);
  }, 90_000);
});
