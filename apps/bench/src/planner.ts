// `pnpm bench:planner`: a load that varies over time (a ramp to a peak, a plateau, a fall, a short burst) on
// mocker workers, three ways side by side: static at the peak size, static at the mean size, and the planner in
// sla mode starting and stopping workers with the local connector. Each run is its own frontend and workers (and
// planner) as processes over one nats-server, in a namespace of its own. Prints SLA attainment, worker-seconds and
// scaling actions, writes bench-results/planner.json and plots workers and load over time to an SVG.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import {
  type CompletionTiming,
  formatTable,
  timedCompletion,
  waitForModel,
  writeBenchResult,
} from "@kvasir/bench";
import { FlagError, type FlagSpec } from "@kvasir/runtime";
import { freePort, type NatsServer, type NodeProcess, spawnNode, startNatsServer } from "@kvasir/testing";
import * as vega from "vega";
import { benchFlags } from "./flags.js";
import {
  arrivals,
  loadCurve,
  meanRate,
  plotSpec,
  type RunSummary,
  type Sample,
  summarize,
} from "./planner-report.js";
import { repoFile, repoRoot } from "./repo.js";

const SCRIPT = "bench:planner";
const MODEL = "Qwen/Qwen3-0.6B";
const cli = repoFile("apps/cli/src/main.ts");

const flags: FlagSpec[] = [
  { name: "duration", type: "number", default: 300, help: "Seconds of load per run" },
  { name: "base-rate", type: "number", default: 2, help: "Requests per second when quiet" },
  {
    name: "peak-rate",
    type: "number",
    default: 14,
    help: "Requests per second at the peak and in the burst",
  },
  { name: "isl", type: "number", default: 64, help: "Prompt tokens (random ids, so no prefix cache helps)" },
  { name: "osl", type: "number", default: 50, help: "Output tokens of each request" },
  { name: "ttft", type: "number", default: 1000, help: "SLA: time to first token (ms)" },
  { name: "itl", type: "number", default: 30, help: "SLA: mean inter-token latency of a request (ms)" },
  {
    name: "peak-workers",
    type: "number",
    default: 3,
    help: "Workers of the static-at-peak run (and the planner's maximum)",
  },
  { name: "interval", type: "number", default: 5, help: "The planner's --adjustment-interval (s)" },
  {
    name: "stabilization",
    type: "number",
    default: 30,
    help: "The planner's --scale-down-stabilization (s)",
  },
  { name: "load-predictor", type: "string", default: "holt-winters", help: "The planner's --load-predictor" },
  {
    name: "runs",
    type: "list",
    default: ["static-peak", "static-mean", "planner"],
    help: "Which runs, in order",
  },
  { name: "seed", type: "number", default: 1, help: "Seed of the arrivals" },
  {
    name: "worker-command",
    type: "string",
    help: "The planner's --worker-command, e.g. 'node dist/apps/kvasir/main.mjs worker' (the bundle of pnpm build:apps starts faster than tsx)",
  },
  { name: "plot", type: "string", default: "docs/planner-bench.svg", help: "Where to write the plot (SVG)" },
];

const values = benchFlags(
  SCRIPT,
  "Static at peak, static at mean and the planner (sla, local connector) under a load varying over time.",
  flags,
);
const num = (name: string) => Number(values[name] ?? flags.find((f) => f.name === name)?.default);
const duration = num("duration");
const base = num("base-rate");
const peak = num("peak-rate");
const sla = { ttftMs: num("ttft"), itlMs: num("itl") };
const peakWorkers = num("peak-workers");
const meanWorkers = Math.max(1, Math.ceil((peakWorkers * meanRate(base, peak)) / peak));
const runs = (values.runs as string[] | undefined) ?? ["static-peak", "static-mean", "planner"];
for (const run of runs) {
  if (!["static-peak", "static-mean", "planner"].includes(run)) throw new FlagError(`unknown run '${run}'`);
}
const SPEEDUP = 10;

/**
 * The simulated engine as the planner sees it (ms after the speedup): one engine keeps ITL within 20 ms up to
 * 512 active KV tokens, about six 50-token requests a second; the mocker gets the same times before the speedup.
 */
const ENGINE = {
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

const dir = join(tmpdir(), `kvasir-bench-planner-${process.pid}`);
mkdirSync(dir, { recursive: true });
const engineProfile = join(dir, "engine.json");
const mockerProfile = join(dir, "mocker.json");
writeFileSync(engineProfile, JSON.stringify(ENGINE));
writeFileSync(
  mockerProfile,
  JSON.stringify({
    ...ENGINE,
    prefill_ttft_ms: ENGINE.prefill_ttft_ms.map((v) => v * SPEEDUP),
    decode_itl: ENGINE.decode_itl.map((row) => row.map((v) => v * SPEEDUP)),
  }),
);

function log(message: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), msg: message, ...fields })}\n`);
}

async function stop(p: NodeProcess | undefined): Promise<void> {
  if (!p) return;
  p.kill("SIGTERM");
  const timer = setTimeout(() => p.kill("SIGKILL"), 15_000);
  await p.exited;
  clearTimeout(timer);
}

async function instances(url: string): Promise<number> {
  const res = await fetch(`${url}/health`).catch(() => undefined);
  const body = res && ((await res.json()) as { models?: Record<string, { instances: string[] }> });
  return body?.models?.[MODEL]?.instances.length ?? 0;
}

async function run(name: string, nats: NatsServer): Promise<{ summary: RunSummary; samples: Sample[] }> {
  const planes = [
    "--namespace",
    `bench-planner-${name}`,
    "--discovery-backend",
    "nats",
    "--event-plane",
    "nats",
  ];
  planes.push("--nats-server", nats.url);
  const workerArgs = [
    "--backend",
    "mocker",
    ...planes,
    "--perf-profile",
    mockerProfile,
    "--speedup-ratio",
    String(SPEEDUP),
  ];
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const processes: NodeProcess[] = [];
  const start = (args: string[], ready: RegExp) =>
    spawnNode(cli, args, { readyLine: ready, readyTimeoutMs: 60_000 }).then((p) => {
      processes.push(p);
      return p;
    });
  let planner: NodeProcess | undefined;
  try {
    await start(
      ["frontend", ...planes, "--http-host", "127.0.0.1", "--http-port", String(port)],
      /frontend ready/,
    );
    const workers = name === "static-peak" ? peakWorkers : name === "static-mean" ? meanWorkers : 1;
    await Promise.all(
      Array.from({ length: workers }, () => start(["worker", ...workerArgs], /worker ready/)),
    );
    if (name === "planner") {
      planner = await spawnNode(
        cli,
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
          String(sla.ttftMs),
          // Headroom under the SLA: a decision lags the load by up to an interval plus a worker's start.
          "--itl",
          String(Math.round((sla.itlMs * 2) / 3)),
          "--profile-results-dir",
          engineProfile,
          "--adjustment-interval",
          String(num("interval")),
          "--scale-down-stabilization",
          String(num("stabilization")),
          "--load-predictor",
          String(values["load-predictor"] ?? "holt-winters"),
          "--min-endpoint",
          "1",
          "--max-endpoint",
          String(peakWorkers),
          `--agg-worker-args=${workerArgs.join(" ")}`,
          ...(values["worker-command"] ? [`--worker-command=${String(values["worker-command"])}`] : []),
        ],
        { readyLine: /planner ready/, readyTimeoutMs: 60_000 },
      );
    }
    await waitForModel(url, MODEL);
    while ((await instances(url)) < workers) await new Promise((r) => setTimeout(r, 200));
    log("run started", { run: name, workers });

    const samples: Sample[] = [];
    const t0 = performance.now();
    const elapsed = () => (performance.now() - t0) / 1000;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push({ t: elapsed(), workers: await instances(url) });
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    const times = arrivals(duration, base, peak, num("seed"));
    const pending: Promise<CompletionTiming>[] = [];
    const isl = num("isl");
    let lastProgress = 0;
    for (const [i, at] of times.entries()) {
      const wait = at * 1000 - (performance.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const prompt = Array.from({ length: isl }, () => 1000 + Math.floor(Math.random() * 29_000));
      pending.push(timedCompletion(url, { model: MODEL, prompt, max_tokens: num("osl") }));
      if (at - lastProgress >= 15) {
        lastProgress = at;
        log("progress", {
          run: name,
          t: Math.round(at),
          sent: i + 1,
          of: times.length,
          workers: samples.at(-1)?.workers,
        });
      }
    }
    const timings = await Promise.all(pending);
    const end = elapsed();
    sampling = false;
    await sampler;
    const summary = summarize(name, timings, samples, end, sla);
    log("run done", { ...summary });
    return { summary, samples };
  } finally {
    await stop(planner);
    await Promise.all(processes.map(stop));
    if (planner) {
      // The planner's decisions with their reasons, for reading the run afterwards.
      const decisions = [...planner.stdout, ...planner.stderr].filter((l) =>
        l.includes('"planner decision"'),
      );
      const file = repoFile("bench-results/planner-decisions.jsonl");
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `${decisions.join("\n")}\n`);
    }
  }
}

const nats = await startNatsServer();
const results: { summary: RunSummary; samples: Sample[] }[] = [];
try {
  for (const name of runs) results.push(await run(name, nats));
} finally {
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
}

const peakRun = results.find((r) => r.summary.name === "static-peak");
const headers = ["run", "requests", "failed", "SLA met %", "worker-s", "vs peak %", "actions", "max workers"];
const rows = results.map(({ summary: s }) => [
  s.name,
  s.requests,
  s.failed,
  s.slaAttainment * 100,
  s.workerSeconds,
  peakRun ? (s.workerSeconds / peakRun.summary.workerSeconds) * 100 : undefined,
  s.scalingActions,
  s.peakWorkers,
]);
process.stdout.write(
  `${formatTable(headers, rows, 1)}\n\nload ${base}→${peak} req/s over ${duration} s (mean ${meanRate(base, peak).toFixed(1)}), ISL ${num("isl")}, OSL ${num("osl")}; SLA TTFT ${sla.ttftMs} ms, ITL ${sla.itlMs} ms; static-mean = ${meanWorkers} workers\n`,
);
const rate = Array.from({ length: 301 }, (_, i) => ({
  t: (i / 300) * duration,
  rps: loadCurve(i / 300, base, peak),
}));
const spec = plotSpec(
  results.map((r) => ({ name: r.summary.name, samples: r.samples })),
  rate,
  `bench:planner — workers and offered load (${base}→${peak} req/s)`,
);
const svg = await new vega.View(vega.parse(spec), { renderer: "none" }).toSVG();
const plot = resolve(repoRoot, String(values.plot ?? "docs/planner-bench.svg"));
mkdirSync(dirname(plot), { recursive: true });
writeFileSync(plot, svg);
const file = writeBenchResult("planner", {
  config: {
    duration,
    base,
    peak,
    isl: num("isl"),
    osl: num("osl"),
    sla,
    peakWorkers,
    meanWorkers,
    interval: num("interval"),
  },
  runs: results,
});
process.stdout.write(`wrote ${file} and ${plot}\n`);
