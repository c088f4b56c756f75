// `pnpm bench:router`: replays a Mooncake trace through the embedded `kvasir serve` (frontend + mocker workers,
// one process) once per router mode and compares TTFT, ITL, throughput and prefix hit rate.
import { monitorEventLoopDelay } from "node:perf_hooks";
import {
  type CompletionTiming,
  formatTable,
  loadTrace,
  offeredLoad,
  prefixHitBounds,
  type RunSummary,
  replayOpenLoop,
  replaySchedule,
  speedupForLoad,
  summarizeRun,
  synthesizePrompt,
  type TraceRow,
  timedCompletion,
  waitForModel,
  writeBenchResult,
} from "@kvasir/bench";
import { serveCommand, start as startServe } from "@kvasir/cli";
import { DEFAULT_MOCKER_CONFIG, DEFAULT_TIMING } from "@kvasir/mocker";
import { FlagError, type FlagSpec, parseFlags } from "@kvasir/runtime";
import { benchFlags } from "./flags.js";

const ALL_MODES = ["round-robin", "random", "least-loaded", "kv", "kv-ttft", "kv-approx"];

const flags: FlagSpec[] = [
  { name: "trace", type: "string", help: "Mooncake-format JSONL trace (required)" },
  { name: "workers", type: "number", default: 8, help: "Mocker workers" },
  {
    name: "modes",
    type: "list",
    default: ALL_MODES,
    help: "Router modes to compare, comma- or space-separated (kv-ttft = kv with --router-cost-model ttft, kv-approx = kv with --no-router-kv-events)",
  },
  { name: "limit", type: "number", help: "Replay only the first N requests" },
  {
    name: "every",
    type: "number",
    default: 1,
    help: "Replay every Nth request of the trace (a subset that still spans the whole trace's prefix reuse)",
  },
  {
    name: "speedup",
    type: "number",
    help: "Divides the trace's inter-arrival gaps (default: the speedup that gives --target-load)",
  },
  {
    name: "target-load",
    type: "number",
    default: 0.6,
    help: "Uncached prefill utilization of the workers that picks the default --speedup (round-robin near saturation)",
  },
  {
    name: "mocker-speedup",
    type: "number",
    default: 0.125,
    help: "The mocker's --speedup-ratio (below 1: a slower GPU, so the host CPU is not the bottleneck)",
  },
  {
    name: "cache-fraction",
    type: "number",
    default: 0.1,
    help: "Size the workers' total KV cache to this fraction of the replayed requests' distinct KV blocks (each worker holds at least 1.25x the longest request)",
  },
  { name: "num-gpu-blocks", type: "number", help: "KV blocks per worker (overrides --cache-fraction)" },
  {
    name: "kv-cache-block-size",
    type: "number",
    default: DEFAULT_MOCKER_CONFIG.blockSize,
    help: "Tokens per KV block",
  },
  { name: "model", type: "string", default: "Qwen/Qwen3-0.6B", help: "Served model name" },
  {
    name: "serve-flag",
    type: "list",
    default: [],
    help: "Extra `kvasir serve` flag, in --serve-flag=--name=value form; repeat for several",
  },
  { name: "out", type: "string", default: "bench-results", help: "Directory of router.json" },
];

interface ModeResult extends RunSummary {
  mode: string;
  /** Host event-loop delay while replaying; high values mean the host, not the simulated engines, was the limit. */
  eventLoopDelayP99Ms: number;
}

function fail(message: string): never {
  process.stderr.write(`bench:router: ${message}\nRun 'pnpm bench:router --help' for its flags.\n`);
  process.exit(2);
}

/** `kvasir serve` flags for one mode; parsing them is where the frontend rejects a mode it does not know. */
function serveArgv(
  mode: string,
  values: Record<string, unknown>,
  numGpuBlocks: number,
  contextLength: number,
) {
  const routerMode = mode.startsWith("kv") ? "kv" : mode;
  return [
    `--router-mode=${routerMode}`,
    ...(mode === "kv-approx" ? ["--no-router-kv-events"] : []),
    ...(mode === "kv-ttft" ? ["--router-cost-model=ttft"] : []),
    `--workers=${values.workers}`,
    `--num-gpu-blocks=${numGpuBlocks}`,
    `--kv-cache-block-size=${values["kv-cache-block-size"]}`,
    `--speedup-ratio=${values["mocker-speedup"]}`,
    `--context-length=${contextLength}`,
    `--model-name=${values.model}`,
    "--http-host=127.0.0.1",
    "--http-port=0",
    "--log-level=warn",
    ...(values["serve-flag"] as string[]),
  ];
}

async function runMode(
  mode: string,
  argv: string[],
  rows: readonly TraceRow[],
  schedule: readonly number[],
  model: string,
): Promise<ModeResult> {
  const serving = await startServe(serveCommand.toConfig(parseFlags(serveCommand.flags, argv, {})));
  try {
    await waitForModel(serving.url, model, 30_000);
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    let done = 0;
    const progress = setInterval(
      () => process.stderr.write(`  ${mode}: ${done}/${rows.length} done\n`),
      15_000,
    );
    const timings = await replayOpenLoop(schedule, async (i): Promise<CompletionTiming> => {
      const row = rows[i] as TraceRow;
      const timing = await timedCompletion(serving.url, {
        model,
        prompt: synthesizePrompt(row),
        max_tokens: Math.max(1, row.outputLength),
        ignore_eos: true,
      });
      done++;
      return timing;
    });
    clearInterval(progress);
    delay.disable();
    return { mode, ...summarizeRun(timings), eventLoopDelayP99Ms: delay.percentile(99) / 1e6 };
  } finally {
    await serving.stop();
  }
}

async function main(): Promise<void> {
  // The embedded apps log every request at info; the table is what this script is for.
  process.env.KVASIR_LOG_LEVEL ??= "warn";
  const values = benchFlags("bench:router", "Compare router modes on a replayed trace.", flags);
  const tracePath = values.trace as string | undefined;
  if (!tracePath) fail("--trace is required");
  const modes = (values.modes as string[]).flatMap((m) => m.split(",")).filter((m) => m !== "");
  const workers = values.workers as number;
  const blockSize = values["kv-cache-block-size"] as number;
  const every = values.every as number;
  if (!(Number.isInteger(every) && every >= 1)) fail("--every must be a whole number of at least 1");
  const rows = loadTrace(tracePath, values.limit as number | undefined).filter((_, i) => i % every === 0);
  if (rows.length === 0) fail("the trace has no rows to replay");

  const longest = Math.max(...rows.map((r) => r.inputLength + r.outputLength));
  const longestBlocks = Math.ceil(longest / blockSize);
  const { distinctBlocks } = prefixHitBounds(rows, { engineBlockSize: blockSize });
  const fraction = values["cache-fraction"] as number;
  const numGpuBlocks =
    (values["num-gpu-blocks"] as number | undefined) ??
    Math.max(Math.ceil((fraction * distinctBlocks) / workers), Math.ceil(1.25 * longestBlocks));
  if (numGpuBlocks < longestBlocks) {
    fail(`--num-gpu-blocks ${numGpuBlocks} cannot hold the longest request (${longestBlocks} blocks)`);
  }
  const bounds = prefixHitBounds(rows, {
    engineBlockSize: blockSize,
    cacheBlocks: numGpuBlocks * workers,
    caches: workers,
  });

  // Check every mode's flags before spending minutes on the first one.
  const argvs = new Map<string, string[]>();
  for (const mode of modes) {
    const argv = serveArgv(mode, values, numGpuBlocks, longest + 1);
    try {
      serveCommand.toConfig(parseFlags(serveCommand.flags, argv, {}));
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      fail(`mode '${mode}' is not accepted by kvasir serve (${why})`);
    }
    argvs.set(mode, argv);
  }

  // The load model reads the mocker's flags as `kvasir serve` parses them (Dynamo's names), not the worker's config
  // shape, so it follows --serve-flag overrides without depending on how the worker nests its engine config.
  const serveValues = parseFlags(serveCommand.flags, argvs.get(modes[0] as string) ?? [], {});
  const numberFlag = (name: string, fallback: number) => {
    const value = serveValues[name];
    return typeof value === "number" ? value : fallback;
  };
  const loadModel = {
    workers,
    mockerSpeedup: numberFlag("speedup-ratio", DEFAULT_MOCKER_CONFIG.speedupRatio),
    timing: DEFAULT_TIMING,
    chunkTokens: numberFlag("max-num-batched-tokens", DEFAULT_MOCKER_CONFIG.maxNumBatchedTokens),
  };
  const speedup =
    (values.speedup as number | undefined) ??
    speedupForLoad(rows, values["target-load"] as number, loadModel);
  const load = offeredLoad(rows, speedup, loadModel);
  const schedule = replaySchedule(
    rows.map((r) => r.timestamp),
    speedup,
  );
  process.stderr.write(
    `bench:router: ${rows.length} requests over ${((schedule.at(-1) ?? 0) / 1000).toFixed(0)} s (speedup ` +
      `${speedup.toFixed(2)}, uncached prefill load ${load.toFixed(2)}), ${workers} workers x ${numGpuBlocks} blocks ` +
      `(${((100 * numGpuBlocks * workers) / distinctBlocks).toFixed(1)}% of ${distinctBlocks} distinct blocks), ` +
      `modes ${modes.join(", ")}\n`,
  );

  const results: ModeResult[] = [];
  for (const mode of modes) {
    process.stderr.write(`bench:router: running ${mode}\n`);
    results.push(await runMode(mode, argvs.get(mode) as string[], rows, schedule, values.model as string));
  }

  const headers = [
    "mode",
    "ok",
    "failed",
    "ttft p50 ms",
    "ttft p90 ms",
    "ttft p99 ms",
    "itl p50 ms",
    "itl p99 ms",
    "tpot p50 ms",
    "out tok/s",
    "hit rate %",
    "pooled bound %",
    "of pooled %",
    `${workers} caches %`,
    "ceiling %",
    "ttft p90 vs rr",
    "loop p99 ms",
  ];
  const roundRobin = results.find((r) => r.mode === "round-robin");
  const pooled = bounds.pooledCacheHitRate ?? 0;
  const table = results.map((r) => [
    r.mode,
    r.succeeded,
    r.failed,
    r.ttftMs.p50,
    r.ttftMs.p90,
    r.ttftMs.p99,
    r.itlMs.p50,
    r.itlMs.p99,
    r.tpotMs.p50,
    r.outputTokensPerSecond,
    100 * r.prefixHitRate,
    100 * pooled,
    pooled > 0 ? (100 * r.prefixHitRate) / pooled : 0,
    100 * (bounds.separateCacheHitRate ?? 0),
    100 * bounds.infiniteCacheHitRate,
    roundRobin && r.ttftMs.p90 > 0 ? roundRobin.ttftMs.p90 / r.ttftMs.p90 : 0,
    r.eventLoopDelayP99Ms,
  ]);
  process.stdout.write(`${formatTable(headers, table, 1)}\n`);
  for (const r of results) {
    if (r.errors.length > 0) process.stdout.write(`${r.mode} errors: ${r.errors.join(" | ")}\n`);
  }
  const path = writeBenchResult(
    "router",
    {
      command: `pnpm bench:router ${process.argv.slice(2).join(" ")}`,
      trace: tracePath,
      requests: rows.length,
      every,
      workers,
      speedup,
      mockerSpeedup: loadModel.mockerSpeedup,
      offeredPrefillLoad: load,
      kvCacheBlockSize: blockSize,
      numGpuBlocks,
      distinctBlocks,
      hitBounds: bounds,
      results,
    },
    values.out as string,
  );
  process.stdout.write(`wrote ${path}\n`);
}

main().catch((error: unknown) => {
  if (error instanceof FlagError) fail(error.message);
  process.stderr.write(
    `bench:router: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
