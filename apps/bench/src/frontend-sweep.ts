// `pnpm bench:frontend --num-processes 1,2`: tokens/s against the number of frontend processes. For each N it
// starts `kvasir frontend --num-processes N` over a real nats-server (discovery and event plane) in front of
// mocker workers, drives the same streamed load as the main runs at concurrency 64, and stops it again.
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { loadavg } from "node:os";
import { formatTable, writeBenchResult } from "@kvasir/bench";
import { freePort, type NodeProcess, spawnNode, startNatsServer, waitFor } from "@kvasir/testing";
import { processCpuMs } from "./cpu-time.js";
import { drive, MODEL, OUTPUT_TOKENS, type PathResult, SPEEDUP, viaFrontend } from "./frontend-load.js";
import { formatFailures } from "./frontend-processes.js";
import { repoFile } from "./repo.js";

const CONCURRENCY = 64;
const REQUESTS = 3000;
const WARMUP = 200;
/** Two workers, so one worker process is not what limits the frontends being measured. */
const WORKERS = 2;
const NAMESPACE = "bench-frontend-processes";

/** /health on a connection of its own, so the primary hands successive checks to different processes. */
function healthOnFreshConnection(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/health`,
      { agent: false, headers: { connection: "close" }, timeout: 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve(Buffer.concat(chunks).toString()));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("health check timed out")));
    req.on("error", reject);
    req.end();
  });
}

/** True when several fresh connections in a row (so, most likely, every process) list every worker. */
async function everyProcessSeesWorkers(base: string, processes: number): Promise<boolean> {
  for (let i = 0; i < processes * 2; i++) {
    const body = await healthOnFreshConnection(base).catch(() => "");
    const health =
      body === "" ? undefined : (JSON.parse(body) as { models?: Record<string, { instances: string[] }> });
    if (health?.models?.[MODEL]?.instances.length !== WORKERS) return false;
  }
  return true;
}

/** CPU milliseconds of `pid` and its descendants (the frontend primary and the processes it forked). */
function treeCpuMs(pid: number): number {
  try {
    const own = processCpuMs(pid);
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    const ids = children === "" ? [] : children.split(" ").map(Number);
    return own.user + own.system + ids.reduce((sum, child) => sum + treeCpuMs(child), 0);
  } catch {
    return 0; // a process that exited between listing and reading
  }
}

/** CPU milliseconds of every process in `pids` and its descendants. */
const cpuOf = (pids: readonly (number | undefined)[]) =>
  pids.reduce<number>((sum, pid) => sum + (pid === undefined ? 0 : treeCpuMs(pid)), 0);

/** SIGTERM, then SIGKILL if a process has not exited after `graceMs`. */
async function stop(processes: readonly NodeProcess[], graceMs = 10_000): Promise<void> {
  await Promise.all(
    processes.map(async (child) => {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await child.exited;
      clearTimeout(timer);
    }),
  );
}

interface SweepRow extends PathResult {
  processes: number;
  /** 1-minute load average read just after the measured run. */
  loadAverage1m: number;
  /** Cores used during the measured run (CPU time / wall time) by the frontend processes, workers, load generator. */
  cores: { frontend: number; workers: number; loadGenerator: number };
}

export async function runProcessSweep(counts: readonly number[]): Promise<void> {
  const nats = await startNatsServer();
  const planes = ["--discovery-backend", "nats", "--event-plane", "nats", "--nats-server", nats.url];
  planes.push("--namespace", NAMESPACE);
  const workers: NodeProcess[] = [];
  const rows: SweepRow[] = [];
  try {
    for (let w = 0; w < WORKERS; w++) {
      const args = [...planes, "--speedup-ratio", String(SPEEDUP), "--max-num-seqs", "256"];
      workers.push(await spawnNode(repoFile("apps/worker/src/main.ts"), args, { readyLine: /worker ready/ }));
    }
    for (const n of counts) {
      const port = await freePort();
      const frontend = await spawnNode(repoFile("apps/frontend/src/main.ts"), [
        ...planes,
        "--log-level",
        "warn",
        "--http-host",
        "127.0.0.1",
        "--http-port",
        String(port),
        "--num-processes",
        String(n),
      ]);
      const base = `http://127.0.0.1:${port}`;
      const agent = new Agent({ keepAlive: true, maxSockets: 128 });
      try {
        await waitFor(() => everyProcessSeesWorkers(base, n), {
          timeoutMs: 30_000,
          message: `every one of ${n} frontend processes lists the ${WORKERS} workers`,
        });
        await drive(CONCURRENCY, WARMUP, (i) => viaFrontend(base, agent, i));
        const before = { frontend: cpuOf([frontend.pid]), workers: cpuOf(workers.map((w) => w.pid)) };
        const ownBefore = process.cpuUsage();
        const started = performance.now();
        const result = await drive(CONCURRENCY, REQUESTS, (i) => viaFrontend(base, agent, i));
        const wallMs = performance.now() - started;
        const own = process.cpuUsage(ownBefore);
        const cores = {
          frontend: (cpuOf([frontend.pid]) - before.frontend) / wallMs,
          workers: (cpuOf(workers.map((w) => w.pid)) - before.workers) / wallMs,
          loadGenerator: (own.user + own.system) / 1000 / wallMs,
        };
        rows.push({ processes: n, ...result, loadAverage1m: loadavg()[0] ?? 0, cores });
      } finally {
        agent.destroy();
        await stop([frontend]);
      }
    }
  } finally {
    await stop(workers);
    await nats.stop();
  }

  const headers = [
    "processes",
    "requests/s",
    "tokens/s",
    "TTFT p50 ms",
    "TTFT p99 ms",
    "frontend cores",
    "worker cores",
    "load-gen cores",
    "load 1m",
    "failures",
  ];
  const cells = rows.map((r) => [
    r.processes,
    r.requestsPerSecond,
    r.tokensPerSecond,
    r.ttftMs.p50,
    r.ttftMs.p99,
    r.cores.frontend,
    r.cores.workers,
    r.cores.loadGenerator,
    r.loadAverage1m,
    formatFailures(r.failures),
  ]);
  console.log(formatTable(headers, cells, 3));
  const path = writeBenchResult("frontend-processes", {
    command: `pnpm bench:frontend --num-processes ${counts.join(",")}`,
    model: MODEL,
    outputTokens: OUTPUT_TOKENS,
    speedupRatio: SPEEDUP,
    concurrency: CONCURRENCY,
    requests: REQUESTS,
    workers: WORKERS,
    results: rows,
  });
  console.log(`wrote ${path}`);
}
