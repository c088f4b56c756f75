// `pnpm bench:disagg`: aggregated against disaggregated serving on the same number of simulated GPUs. Replays one
// long-prompt workload (synthetic ISL/OSL with Poisson arrivals, or a Mooncake trace) through a fresh `kvasir serve`
// per topology, run as a child process so the load generator's SSE parsing does not share the serving event loop;
// the engine flags are identical for every topology, only the worker roles differ. Prints a table and writes
// bench-results/<result-name>.json.
import { loadavg } from "node:os";
import {
  type CompletionTiming,
  failureReasons,
  formatTable,
  goodput,
  histogram,
  histogramQuantile,
  loadTrace,
  parsePromText,
  poissonWorkload,
  replayOpenLoop,
  replaySchedule,
  sumBy,
  summarizeRun,
  synthesizePrompt,
  type TraceRow,
  timedCompletion,
  waitForModel,
  writeBenchResult,
} from "@kvasir/bench";
import { serveCommand } from "@kvasir/cli";
import { DEFAULT_MOCKER_CONFIG } from "@kvasir/mocker";
import { FlagError, type FlagSpec, parseFlags } from "@kvasir/runtime";
import { freePort, spawnNode } from "@kvasir/testing";
import {
  compare,
  type EngineFlags,
  gpusOf,
  parseTopology,
  serveArgv,
  TABLE_HEADERS,
  type Topology,
  type TopologyResult,
  tableRow,
} from "./disagg-report.js";
import { benchFlags } from "./flags.js";
import { repoFile } from "./repo.js";

const SCRIPT = "bench:disagg";

const flags: FlagSpec[] = [
  { name: "isl", type: "number", default: 8000, help: "Prompt tokens of each synthetic request" },
  { name: "osl", type: "number", default: 200, help: "Output tokens of each synthetic request" },
  { name: "rate", type: "number", default: 2, help: "Mean Poisson arrivals per second (synthetic workload)" },
  { name: "count", type: "number", help: "Requests to send (with --trace: the trace's first N rows)" },
  {
    name: "duration",
    type: "number",
    default: 60,
    help: "Seconds of synthetic arrivals (with --count, whichever ends first)",
  },
  { name: "seed", type: "number", default: 1, help: "Seed of the synthetic arrivals" },
  {
    name: "trace",
    type: "string",
    help: "Replay this Mooncake-format JSONL trace instead of the synthetic workload",
  },
  { name: "trace-speedup", type: "number", default: 1, help: "Divides the trace's inter-arrival gaps" },
  {
    name: "topologies",
    type: "list",
    default: ["agg4", "1p3d", "2p2d"],
    help: "Topologies, side by side: aggN (N aggregated workers) or PpDd (P prefill, D decode workers)",
  },
  {
    name: "mocker-speedup",
    type: "number",
    default: 0.25,
    help: "The mocker's --speedup-ratio (below 1: a slower GPU, so the 2-core host is not the bottleneck)",
  },
  {
    name: "num-gpu-blocks",
    type: "number",
    default: DEFAULT_MOCKER_CONFIG.numGpuBlocks,
    help: "KV blocks per worker",
  },
  {
    name: "max-num-batched-tokens",
    type: "number",
    default: DEFAULT_MOCKER_CONFIG.maxNumBatchedTokens,
    help: "Token budget of one engine step (chunked prefill shares it with decodes)",
  },
  {
    name: "max-num-seqs",
    type: "number",
    default: DEFAULT_MOCKER_CONFIG.maxNumSeqs,
    help: "Running requests per worker",
  },
  {
    name: "kv-cache-block-size",
    type: "number",
    default: DEFAULT_MOCKER_CONFIG.blockSize,
    help: "Tokens per KV block",
  },
  {
    name: "kv-bytes-per-token",
    type: "number",
    default: DEFAULT_MOCKER_CONFIG.kvBytesPerToken,
    help: "KV bytes per token moved from prefill to decode workers",
  },
  { name: "router-mode", type: "string", default: "kv", help: "Frontend --router-mode for every topology" },
  { name: "sla-ttft-ms", type: "number", default: 2000, help: "Goodput SLA: time to first token, ms" },
  {
    name: "sla-itl-ms",
    type: "number",
    default: 50,
    help: "Goodput SLA: a request's mean inter-token latency, ms",
  },
  { name: "request-timeout", type: "number", default: 300, help: "Seconds before a request is abandoned" },
  { name: "model", type: "string", default: "Qwen/Qwen3-0.6B", help: "Served model name" },
  {
    name: "serve-flag",
    type: "list",
    default: [],
    help: "Extra `kvasir serve` flag for every topology, in --serve-flag=--name=value form; repeat for several",
  },
  { name: "out", type: "string", default: "bench-results", help: "Directory of the JSON result" },
  {
    name: "result-name",
    type: "string",
    default: "disagg",
    help: "The JSON result's file name, without .json",
  },
];

function fail(message: string): never {
  process.stderr.write(`${SCRIPT}: ${message}\nRun 'pnpm ${SCRIPT} --help' for its flags.\n`);
  process.exit(2);
}

const log = (line: string) => process.stderr.write(`${SCRIPT}: ${line}\n`);

async function getText(url: string): Promise<string> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return response.text();
}

interface Workload {
  rows: TraceRow[];
  schedule: number[];
  prompts: number[][];
}

async function runTopology(
  topology: Topology,
  argv: string[],
  systemPort: number,
  workload: Workload,
  values: Record<string, unknown>,
): Promise<{ result: TopologyResult; timings: CompletionTiming[] }> {
  const child = await spawnNode(repoFile("apps/bench/src/disagg-serve.ts"), argv, {
    readyLine: /"ready":true/,
    readyTimeoutMs: 120_000,
    env: { KVASIR_LOG_LEVEL: "warn" },
  });
  try {
    const ready = JSON.parse(await child.waitForLine(/"ready":true/)) as { url: string; statsUrl: string };
    const model = values.model as string;
    await waitForModel(ready.url, model, 60_000);
    // The frontend learns the prefill pool from discovery, a moment after the model appears.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await getText(`${ready.statsUrl}/stats/reset`);

    const { rows, schedule, prompts } = workload;
    let sent = 0;
    let done = 0;
    let failed = 0;
    const started = performance.now();
    const progress = setInterval(() => {
      const s = ((performance.now() - started) / 1000).toFixed(0);
      log(`  ${topology.name}: ${s} s, ${sent}/${rows.length} sent, ${done} done, ${failed} failed`);
    }, 10_000);
    const timeoutMs = (values["request-timeout"] as number) * 1000;
    let timings: CompletionTiming[];
    try {
      timings = await replayOpenLoop(schedule, async (i) => {
        sent++;
        const row = rows[i] as TraceRow;
        const timing = await timedCompletion(
          ready.url,
          {
            model,
            prompt: prompts[i],
            max_tokens: Math.max(1, row.outputLength),
            ignore_eos: true,
          },
          AbortSignal.timeout(timeoutMs),
        );
        done++;
        if (!timing.ok) failed++;
        return timing;
      });
    } finally {
      clearInterval(progress);
    }

    const workerSamples = parsePromText(await getText(`${ready.statsUrl}/metrics`));
    const frontendSamples = parsePromText(await getText(`http://127.0.0.1:${systemPort}/metrics`));
    const host = JSON.parse(await getText(`${ready.statsUrl}/stats`)) as {
      loopDelayP99Ms: number;
      cpuSeconds: number;
    };
    const seconds = histogram(workerSamples, "dynamo_component_kv_transfer_seconds");
    const summary = summarizeRun(timings);
    const sla = { ttftMs: values["sla-ttft-ms"] as number, itlMs: values["sla-itl-ms"] as number };
    const result: TopologyResult = {
      topology,
      summary,
      goodput: goodput(timings, sla, summary.wallSeconds),
      transfer: {
        count: seconds.count,
        p50Ms: 1000 * histogramQuantile(seconds, 0.5),
        p99Ms: 1000 * histogramQuantile(seconds, 0.99),
        meanMs: seconds.count === 0 ? Number.NaN : (1000 * seconds.sum) / seconds.count,
      },
      prefill: sumBy(frontendSamples, "dynamo_frontend_disaggregated_requests_total", "prefill"),
      transferFallbacks: sumBy(workerSamples, "dynamo_component_kv_transfer_fallbacks_total", "reason"),
      releases: sumBy(workerSamples, "dynamo_component_kv_transfer_releases_total", "reason"),
      failures: failureReasons(timings),
      host: {
        loopDelayP99Ms: host.loopDelayP99Ms,
        cpuSeconds: host.cpuSeconds,
        loadAverage: loadavg()[0] ?? 0,
      },
    };
    return { result, timings };
  } catch (error) {
    // The child's last words say why serving failed (a crash, a refused flag); the load generator only sees fetch fail.
    const tail = [...child.stderr, ...child.stdout].slice(-20).join("\n");
    throw new Error(`${topology.name}: ${error instanceof Error ? error.message : String(error)}\n${tail}`);
  } finally {
    child.kill("SIGTERM");
    const stopped = await Promise.race([
      child.exited.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 30_000).unref()),
    ]);
    if (!stopped) {
      log(`  ${topology.name}: serve did not stop within 30 s of SIGTERM; killed`);
      child.kill("SIGKILL");
      await child.exited;
    }
  }
}

async function main(): Promise<void> {
  const values = benchFlags(
    SCRIPT,
    "Aggregated against disaggregated serving on the same simulated GPUs: TTFT, ITL, transfer time, goodput.",
    flags,
  );
  const topologies: Topology[] = [];
  for (const name of (values.topologies as string[]).flatMap((t) => t.split(","))) {
    if (name === "") continue;
    try {
      topologies.push(parseTopology(name));
    } catch (error) {
      fail(error instanceof Error ? error.message : String(error));
    }
  }
  if (topologies.length === 0) fail("--topologies names no topology");
  const gpus = new Set(topologies.map(gpusOf));
  if (gpus.size > 1) log(`warning: the topologies use different numbers of GPUs (${[...gpus].join(", ")})`);

  const tracePath = values.trace as string | undefined;
  const count = values.count as number | undefined;
  let rows: TraceRow[];
  let schedule: number[];
  try {
    if (tracePath) {
      rows = loadTrace(tracePath, count);
      schedule = replaySchedule(
        rows.map((r) => r.timestamp),
        values["trace-speedup"] as number,
      );
    } else {
      rows = poissonWorkload({
        inputLength: values.isl as number,
        outputLength: values.osl as number,
        rate: values.rate as number,
        ...(count === undefined ? {} : { count }),
        durationSeconds: values.duration as number,
        seed: values.seed as number,
      });
      schedule = rows.map((r) => r.timestamp);
    }
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  if (rows.length === 0) fail("the workload has no requests");
  const prompts = rows.map((row) => synthesizePrompt(row));

  const blockSize = values["kv-cache-block-size"] as number;
  const longest = Math.max(...rows.map((r) => r.inputLength + r.outputLength));
  const engine: EngineFlags = {
    numGpuBlocks: values["num-gpu-blocks"] as number,
    maxNumBatchedTokens: values["max-num-batched-tokens"] as number,
    maxNumSeqs: values["max-num-seqs"] as number,
    blockSize,
    speedupRatio: values["mocker-speedup"] as number,
    contextLength: longest + 1,
    kvBytesPerToken: values["kv-bytes-per-token"] as number,
  };
  if (engine.numGpuBlocks < Math.ceil(longest / blockSize)) {
    fail(`--num-gpu-blocks ${engine.numGpuBlocks} cannot hold the longest request (${longest} tokens)`);
  }

  // Check every topology's flags before spending minutes on the first one.
  const runs: { topology: Topology; argv: string[]; systemPort: number }[] = [];
  for (const topology of topologies) {
    const systemPort = await freePort();
    const argv = serveArgv(topology, engine, {
      model: values.model as string,
      routerMode: values["router-mode"] as string,
      systemPort,
      extra: values["serve-flag"] as string[],
    });
    try {
      serveCommand.toConfig(parseFlags(serveCommand.flags, argv, {}));
    } catch (error) {
      fail(
        `topology ${topology.name}: kvasir serve refuses its flags (${error instanceof Error ? error.message : String(error)})`,
      );
    }
    runs.push({ topology, argv, systemPort });
  }

  const spanS = (schedule.at(-1) ?? 0) / 1000;
  const isl = rows.reduce((a, r) => a + r.inputLength, 0) / rows.length;
  const osl = rows.reduce((a, r) => a + r.outputLength, 0) / rows.length;
  log(
    `${rows.length} requests over ${spanS.toFixed(0)} s (${(rows.length / Math.max(spanS, 1e-9)).toFixed(2)} req/s), ` +
      `mean ISL ${isl.toFixed(0)} / OSL ${osl.toFixed(0)}; mocker speedup ${engine.speedupRatio}, ` +
      `${engine.numGpuBlocks} blocks x ${blockSize} tokens, budget ${engine.maxNumBatchedTokens} tokens, ` +
      `${engine.kvBytesPerToken} KV bytes/token; topologies ${topologies.map((t) => t.name).join(", ")}`,
  );

  const results: TopologyResult[] = [];
  for (const run of runs) {
    log(`running ${run.topology.name}`);
    const { result } = await runTopology(
      run.topology,
      run.argv,
      run.systemPort,
      { rows, schedule, prompts },
      values,
    );
    results.push(result);
    log(
      `  ${run.topology.name}: ${result.summary.succeeded} ok, ${result.summary.failed} failed, goodput ` +
        `${result.goodput.requestsPerSecond.toFixed(2)} req/s, ITL p99 ${result.summary.itlMs.p99.toFixed(1)} ms, ` +
        `serving CPU ${result.host.cpuSeconds.toFixed(0)} s, load average ${result.host.loadAverage.toFixed(1)}`,
    );
  }

  process.stdout.write(`${formatTable(TABLE_HEADERS, results.map(tableRow), 1)}\n`);
  for (const r of results) {
    const problems = { ...r.failures };
    for (const [reason, n] of Object.entries(r.transferFallbacks)) {
      problems[`transfer recompute: ${reason}`] = n;
    }
    for (const [reason, n] of Object.entries(r.releases)) {
      if (reason !== "released") problems[`KV hold ended: ${reason}`] = n;
    }
    if (Object.keys(problems).length > 0) {
      process.stdout.write(`${r.topology.name} failures: ${JSON.stringify(problems)}\n`);
    }
  }
  const comparisons = compare(results);
  const times = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : "n/a (baseline 0)");
  for (const c of comparisons) {
    process.stdout.write(
      `${c.topology} vs ${c.baseline}: goodput ${times(c.goodputRatio)} (goal 2x: ${c.goodputGoalMet ? "met" : "not met"}; ` +
        `strict ${times(c.strictGoodputRatio)}), ITL p99 ${times(c.itlP99Reduction)} lower ` +
        `(goal 3x: ${c.itlGoalMet ? "met" : "not met"})\n`,
    );
  }
  const path = writeBenchResult(
    values["result-name"] as string,
    {
      command: `pnpm ${SCRIPT} ${process.argv.slice(2).join(" ")}`.trim(),
      workload: tracePath
        ? { trace: tracePath, traceSpeedup: values["trace-speedup"], requests: rows.length }
        : {
            isl: values.isl,
            osl: values.osl,
            rate: values.rate,
            durationSeconds: values.duration,
            seed: values.seed,
            requests: rows.length,
          },
      engine,
      routerMode: values["router-mode"],
      sla: {
        ttftMs: values["sla-ttft-ms"],
        itlMs: values["sla-itl-ms"],
        itlIs: "per-request mean token gap",
      },
      results,
      comparisons,
    },
    values.out as string,
  );
  process.stdout.write(`wrote ${path}\n`);
}

main().catch((error: unknown) => {
  if (error instanceof FlagError) fail(error.message);
  process.stderr.write(
    `${SCRIPT}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
