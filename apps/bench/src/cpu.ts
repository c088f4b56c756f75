// `pnpm bench:cpu`: CPU time per request and per streamed output token of each process of a deployment — the
// frontend, the mocker worker, and (with KV routing through `kvasir router`) the router — read from
// /proc/<pid>/stat before and after the measured requests. Streamed /v1/completions with 8,000 prompt token ids
// and 256 output tokens, at concurrency 1 and 64, then with one output token (what a request costs besides its
// tokens: the prompt's parsing, validation, routing and dispatch). The mocker's simulation (its scheduler and KV cache, which a
// real engine does on the GPU) is timed on its own in this process over the same requests, so the worker's relay
// (Connect, protocol messages, the engine shell) is the worker's CPU minus that.
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { formatTable, writeBenchResult } from "@kvasir/bench";
import { MockEngine } from "@kvasir/mocker";
import { WorkerService } from "@kvasir/protocol";
import { createClient, type FlagSpec } from "@kvasir/runtime";
import { freePort, type NodeProcess, spawnNode, waitFor } from "@kvasir/testing";
import { processCpuMs } from "./cpu-time.js";
import { benchFlags } from "./flags.js";
import { repoFile } from "./repo.js";

const MODEL = "Qwen/Qwen3-0.6B";
const PROMPT_TOKENS = 8_000;
const OUTPUT_TOKENS = 256;
const MAX_NUM_SEQS = 256;
// The last level is the per-request cost: one output token, so nearly all of it is the prompt's handling.
const LEVELS = [
  { concurrency: 1, outputTokens: OUTPUT_TOKENS },
  { concurrency: 64, outputTokens: OUTPUT_TOKENS },
  { concurrency: 1, outputTokens: 1 },
];

const flags: FlagSpec[] = [
  { name: "requests", type: "number", default: 128, help: "Measured requests per concurrency level" },
  {
    name: "warmup",
    type: "number",
    default: 32,
    help: "Unmeasured requests before each level (JIT, connections)",
  },
  {
    name: "speedup-ratio",
    type: "number",
    default: 1_000_000,
    help: "Mocker speedup; the default has the worker emit tokens as fast as it can (every process saturated), a low one paces them like a GPU",
  },
  {
    name: "router",
    type: "boolean",
    default: false,
    help: "Also run with --router-mode kv --use-remote-router and a `kvasir router` process",
  },
  {
    name: "cpu-prof-dir",
    type: "string",
    help: "Run the frontend and the worker under node --cpu-prof, writing their profiles here on exit (CPU.<date>.<pid>...)",
  },
];

interface Failures {
  [reason: string]: number;
}

/** One streamed completion; resolves with the output tokens the usage event counts. */
function completion(agent: Agent, base: string, i: number, outputTokens: number): Promise<number> {
  // Distinct prompts, so no request rides on another's cached prefix; token ids stay well inside the vocabulary.
  const prompt = Array.from({ length: PROMPT_TOKENS }, (_, k) => 1000 + ((i * 7919 + k * 31) % 100_000));
  const body = JSON.stringify({
    model: MODEL,
    prompt,
    max_tokens: outputTokens,
    ignore_eos: true,
    stream: true,
    stream_options: { include_usage: true },
  });
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}/v1/completions`,
      { method: "POST", agent, headers: { "content-type": "application/json" } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`HTTP ${res.statusCode}`));
          return;
        }
        // As little work as possible here: keep the tail, read the usage event's count at the end.
        let tail = "";
        res.setEncoding("utf8");
        res.on("data", (text: string) => {
          tail = (tail + text).slice(-2048);
        });
        res.on("end", () => {
          const match = /"completion_tokens":(\d+)/.exec(tail);
          if (!match) reject(new Error("no usage event"));
          else resolve(Number(match[1]));
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Runs `count` completions with `concurrency` in flight; output tokens received and failures by reason. */
async function drive(
  agent: Agent,
  base: string,
  concurrency: number,
  outputTokens: number,
  count: number,
  offset: number,
): Promise<{ tokens: number; failures: Failures; seconds: number }> {
  const failures: Failures = {};
  let tokens = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = offset + next++;
        try {
          const received = await completion(agent, base, i, outputTokens);
          tokens += received;
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          failures[reason] = (failures[reason] ?? 0) + 1;
        }
      }
    }),
  );
  return { tokens, failures, seconds: (performance.now() - started) / 1000 };
}

/**
 * CPU of the mocker's simulation alone for `count` requests at `concurrency`: the same engine, stepped
 * back to back in this process with no streams, queues or network.
 */
function simulationCpuMs(concurrency: number, outputTokens: number, count: number, speedup: number): number {
  const engine = new MockEngine({ maxNumSeqs: MAX_NUM_SEQS, speedupRatio: speedup }, { workerId: 1n });
  let added = 0;
  let active = 0;
  let now = Date.now();
  const add = () => {
    const i = 1_000_000 + added++;
    engine.addRequest({
      requestId: `sim-${i}`,
      tokenIds: Array.from({ length: PROMPT_TOKENS }, (_, k) => 1000 + ((i * 7919 + k * 31) % 100_000)),
      maxTokens: outputTokens,
      minTokens: 0,
      stopTokenIds: [],
      ignoreEos: true,
      priority: 0,
    });
    active++;
  };
  const before = process.cpuUsage();
  while (added < concurrency && added < count) add();
  for (;;) {
    const result = engine.step(now);
    if (!result) break;
    now += result.durationMs;
    for (const out of result.outputs) {
      if (!out.finishReason) continue;
      active--;
      if (added < count) add();
    }
  }
  if (active !== 0) throw new Error(`the simulation left ${active} requests unfinished`);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

type GenerateClient = ReturnType<typeof createClient<typeof WorkerService>>;

/**
 * CPU this process spends receiving the same streams straight from the worker's Generate (no frontend): what the
 * protocol alone costs a receiver per token, the floor of the frontend's per-token cost at one token per message.
 */
async function directClientCpuMs(
  client: GenerateClient,
  concurrency: number,
  outputTokens: number,
  count: number,
  offset: number,
): Promise<{ cpuMs: number; tokens: number }> {
  let tokens = 0;
  let next = 0;
  const before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = offset + next++;
        const tokenIds = Array.from(
          { length: PROMPT_TOKENS },
          (_, k) => 1000 + ((i * 7919 + k * 31) % 100_000),
        );
        for await (const out of client.generate({
          requestId: `direct-${i}`,
          model: MODEL,
          tokenIds,
          stop: { maxTokens: outputTokens, ignoreEos: true },
        })) {
          tokens += out.tokenIds.length;
        }
      }
    }),
  );
  const used = process.cpuUsage(before);
  return { cpuMs: (used.user + used.system) / 1000, tokens };
}

interface Row {
  setup: string;
  concurrency: number;
  outputTokens: number;
  process: string;
  cpuMs: number;
  /** Kernel time within cpuMs, when measured (not for the in-process simulation). */
  systemMs?: number;
  requests: number;
  tokens: number;
}

/** A node process under `node --cpu-prof` (spawnNode has no place for node's own flags, so a shell adds them). */
function profiled(dir: string): string[] {
  return ["sh", "-c", `node="$1"; shift; exec "$node" --cpu-prof --cpu-prof-dir='${dir}' "$@"`, "sh"];
}

async function runSetup(
  setup: "round-robin" | "kv-remote-router",
  values: { requests: number; warmup: number; speedup: number; cpuProfDir: string | undefined },
  rows: Row[],
  failures: Record<string, Failures>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "kvasir-bench-cpu-"));
  const planes = ["--discovery-backend", "file", "--discovery-file", join(dir, "discovery.json")];
  planes.push("--namespace", "bench-cpu");
  // The worker and router announce readiness at info level; the frontend logs only warnings.
  const quiet = ["--log-level", "warn"];
  const processes: NodeProcess[] = [];
  try {
    const worker: NodeProcess = await spawnNode(
      repoFile("apps/worker/src/main.ts"),
      [...planes, "--speedup-ratio", String(values.speedup), "--max-num-seqs", String(MAX_NUM_SEQS)],
      {
        readyLine: /worker ready/,
        readyTimeoutMs: 60_000,
        ...(values.cpuProfDir ? { commandPrefix: profiled(values.cpuProfDir) } : {}),
      },
    );
    processes.push(worker);
    const workerUrl = (JSON.parse(await worker.waitForLine(/worker ready/)) as { url: string }).url;
    const measured: { name: string; pid: number }[] = [];
    let router: NodeProcess | undefined;
    if (setup === "kv-remote-router") {
      router = await spawnNode(repoFile("apps/router/src/main.ts"), [...planes, "--port", "0"], {
        readyLine: /router ready/,
        readyTimeoutMs: 60_000,
      });
      processes.push(router);
    }
    const port = await freePort();
    const frontend = await spawnNode(
      repoFile("apps/frontend/src/main.ts"),
      [
        ...planes,
        ...quiet,
        "--http-host",
        "127.0.0.1",
        "--http-port",
        String(port),
        ...(setup === "kv-remote-router" ? ["--router-mode", "kv", "--use-remote-router"] : []),
      ],
      values.cpuProfDir ? { commandPrefix: profiled(values.cpuProfDir) } : {},
    );
    processes.push(frontend);
    for (const [name, p] of [
      ["frontend", frontend],
      ["router", router],
      ["worker", worker],
    ] as const) {
      if (p?.pid !== undefined) measured.push({ name, pid: p.pid });
    }
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/health`).catch(() => undefined))?.ok === true, {
      timeoutMs: 30_000,
      message: "frontend sees the worker",
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 128 });
    let offset = 0;
    for (const { concurrency, outputTokens } of LEVELS) {
      const key = `${setup} c${concurrency} ${outputTokens} tokens`;
      await drive(agent, base, concurrency, outputTokens, values.warmup, offset);
      offset += values.warmup;
      const before = measured.map((m) => processCpuMs(m.pid));
      const run = await drive(agent, base, concurrency, outputTokens, values.requests, offset);
      const after = measured.map((m) => processCpuMs(m.pid));
      offset += values.requests;
      failures[key] = run.failures;
      const ok = values.requests - Object.values(run.failures).reduce((a, b) => a + b, 0);
      measured.forEach((m, i) => {
        const start = before[i] ?? { user: 0, system: 0 };
        const end = after[i] ?? start;
        const system = end.system - start.system;
        rows.push({
          setup,
          concurrency,
          outputTokens,
          process: m.name,
          cpuMs: end.user - start.user + system,
          systemMs: system,
          requests: ok,
          tokens: run.tokens,
        });
      });
      if (setup === "round-robin") {
        const client = createClient(WorkerService, workerUrl);
        await directClientCpuMs(client, concurrency, outputTokens, values.warmup, 2_000_000 + offset);
        const direct = await directClientCpuMs(
          client,
          concurrency,
          outputTokens,
          values.requests,
          3_000_000 + offset,
        );
        rows.push({
          setup,
          concurrency,
          outputTokens,
          process: "Generate client alone (no frontend)",
          cpuMs: direct.cpuMs,
          requests: values.requests,
          tokens: direct.tokens,
        });
        rows.push({
          setup,
          concurrency,
          outputTokens,
          process: "mocker simulation (in worker)",
          cpuMs: simulationCpuMs(concurrency, outputTokens, ok, values.speedup),
          requests: ok,
          tokens: run.tokens,
        });
      }
      process.stderr.write(
        `bench:cpu: ${key}: ${ok} requests, ${run.tokens} tokens in ${run.seconds.toFixed(1)} s\n`,
      );
    }
    agent.destroy();
  } finally {
    for (const p of processes.reverse()) {
      p.kill("SIGTERM");
      await p.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const values = benchFlags(
    "bench:cpu",
    "CPU per request and per streamed output token of the frontend, router and worker processes.",
    flags,
  );
  const requests = Number(values.requests);
  const warmup = Number(values.warmup);
  const speedup = Number(values["speedup-ratio"]);
  if (
    !(Number.isInteger(requests) && requests >= 1 && Number.isInteger(warmup) && warmup >= 0 && speedup > 0)
  ) {
    process.stderr.write(
      "bench:cpu: --requests must be a whole number >= 1, --warmup >= 0 and --speedup-ratio > 0\n" +
        "Run 'pnpm bench:cpu --help' for its flags.\n",
    );
    process.exit(2);
  }
  const cpuProfDir = typeof values["cpu-prof-dir"] === "string" ? values["cpu-prof-dir"] : undefined;
  const loadBefore = loadavg();
  const rows: Row[] = [];
  const failures: Record<string, Failures> = {};
  await runSetup("round-robin", { requests, warmup, speedup, cpuProfDir }, rows, failures);
  if (values.router === true)
    await runSetup("kv-remote-router", { requests, warmup, speedup, cpuProfDir: undefined }, rows, failures);

  // The worker's relay: what it spends beyond the simulation a real engine would run on the GPU.
  for (const sim of rows.filter((r) => r.process.startsWith("mocker simulation"))) {
    const worker = rows.find(
      (r) =>
        r.setup === sim.setup &&
        r.concurrency === sim.concurrency &&
        r.outputTokens === sim.outputTokens &&
        r.process === "worker",
    );
    if (worker)
      rows.push({
        ...worker,
        process: "worker relay (worker - simulation)",
        cpuMs: worker.cpuMs - sim.cpuMs,
      });
  }
  rows.sort(
    (a, b) =>
      a.setup.localeCompare(b.setup) || b.outputTokens - a.outputTokens || a.concurrency - b.concurrency,
  );
  const table = rows.map((r) => [
    r.setup,
    r.concurrency,
    r.outputTokens,
    r.process,
    r.requests,
    r.cpuMs / r.requests,
    (r.cpuMs * 1000) / r.tokens,
    r.systemMs === undefined ? undefined : (100 * r.systemMs) / r.cpuMs,
  ]);
  console.log(
    formatTable(
      [
        "setup",
        "concurrency",
        "output tokens",
        "process",
        "requests",
        "CPU ms/request",
        "CPU µs/token",
        "kernel %",
      ],
      table,
      2,
    ),
  );
  // Split of each process's cost: per request (the one-token level) and per token beyond it (the extra CPU of a
  // 256-token request over a one-token one, per extra token), the two figures the goals are stated in.
  const split = rows
    .filter((r) => r.outputTokens === 1)
    .flatMap((one) =>
      rows
        .filter((r) => r.setup === one.setup && r.process === one.process && r.outputTokens === OUTPUT_TOKENS)
        .map((long) => ({
          setup: one.setup,
          process: one.process,
          concurrency: long.concurrency,
          perRequestMs: one.cpuMs / one.requests,
          perTokenUs: ((long.cpuMs / long.requests - one.cpuMs / one.requests) * 1000) / (OUTPUT_TOKENS - 1),
        })),
    );
  console.log();
  console.log(
    formatTable(
      ["setup", "process", "concurrency", "ms per request (1 token)", "µs per further token"],
      split.map((r) => [r.setup, r.process, r.concurrency, r.perRequestMs, r.perTokenUs]),
      2,
    ),
  );
  for (const [key, f] of Object.entries(failures)) {
    const total = Object.values(f).reduce((a, b) => a + b, 0);
    console.log(`${key}: ${total} failed${total > 0 ? ` (${JSON.stringify(f)})` : ""}`);
  }
  // CPU time does not count waiting for a core, but a busy machine still shifts it (caches, batching): say how busy.
  const load = { before: loadBefore, after: loadavg() };
  console.log(
    `load average ${load.before.map((l) => l.toFixed(2)).join(" ")} before, ${load.after.map((l) => l.toFixed(2)).join(" ")} after`,
  );
  const path = writeBenchResult("cpu", {
    command: `pnpm bench:cpu ${process.argv.slice(2).join(" ")}`.trim(),
    model: MODEL,
    promptTokens: PROMPT_TOKENS,
    levels: LEVELS,
    speedupRatio: speedup,
    requests,
    warmup,
    rows: rows.map((r) => ({
      ...r,
      cpuMsPerRequest: r.cpuMs / r.requests,
      cpuUsPerToken: (r.cpuMs * 1000) / r.tokens,
    })),
    split,
    failures,
    loadAverage: load,
  });
  console.log(`wrote ${path}`);
}

await main();
