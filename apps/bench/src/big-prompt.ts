// `pnpm bench:big-prompt`: what a 7.8 MB prompt does to everyone else. Runs `kvasir serve` (one mocker worker)
// twice, tokenizing on the event loop (`--tokenizer-threads 0`) and on the tokenizer threads (the default), and
// measures /health and short streamed chat completions (20 at a time) with nothing else in flight and while a
// 7.8 MB chat prompt is being templated and tokenized. Prints a table and writes bench-results/big-prompt.json.
import { get } from "node:http";
import { formatTable, type Summary, summarize, waitForModel, writeBenchResult } from "@kvasir/bench";
import { freePort, gibberish, sleep, spawnNode } from "@kvasir/testing";
import { benchFlags } from "./flags.js";
import { repoFile } from "./repo.js";

const MODEL = "Qwen/Qwen3-0.6B";
const BIG_CHARS = 7_800_000;
const SHORTS = 20;
const ROUNDS = 8;
// Room for the big prompt: it is tokenized (and refused afterwards, being longer), not refused up front.
const CONTEXT = 1_000_000;

interface Round {
  healthMs: number[];
  ttftMs: number[];
  totalMs: number[];
  /** Requests that failed (a stalled server resets kept-alive connections whose idle timer ran out meanwhile). */
  failures: number;
}

const chatBody = (content: string, stream = true) =>
  JSON.stringify({
    model: MODEL,
    messages: [{ role: "user", content }],
    max_tokens: 8,
    ignore_eos: true,
    stream,
  });

/** One short stream: time to its first content chunk and to its end. */
async function shortStream(base: string, i: number): Promise<{ ttftMs: number; totalMs: number }> {
  const sent = performance.now();
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: chatBody(`Say hello number ${i}`),
  });
  if (!res.ok || !res.body) throw new Error(`short stream: HTTP ${res.status}`);
  let ttftMs = 0;
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    if (ttftMs === 0 && decoder.decode(chunk).includes('"content"')) ttftMs = performance.now() - sent;
  }
  return { ttftMs, totalMs: performance.now() - sent };
}

/** Milliseconds for GET /health over a new connection. */
function healthOnNewConnection(base: string): Promise<number> {
  const sent = performance.now();
  return new Promise((resolve, reject) => {
    const req = get(`${base}/health`, { agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(performance.now() - sent));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

/** SHORTS streams and one /health at once. */
async function round(base: string, n: number): Promise<Round> {
  // On a connection of its own, as a prober makes: it waits out a stall rather than meeting a reset keep-alive
  // connection. Settled at once, so a failure is counted rather than left unhandled.
  const health = healthOnNewConnection(base).then(
    (ms) => [ms],
    (): number[] => [],
  );
  const streams = await Promise.allSettled(
    Array.from({ length: SHORTS }, (_, i) => shortStream(base, n * SHORTS + i)),
  );
  const healthMs = await health;
  const done = streams.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  return {
    healthMs,
    ttftMs: done.map((s) => s.ttftMs),
    totalMs: done.map((s) => s.totalMs),
    failures: SHORTS + 1 - done.length - healthMs.length,
  };
}

const failures = (rounds: Round[]) => rounds.reduce((sum, r) => sum + r.failures, 0);

function summaries(rounds: Round[]): { health: Summary; ttft: Summary; total: Summary } {
  return {
    health: summarize(rounds.flatMap((r) => r.healthMs)),
    ttft: summarize(rounds.flatMap((r) => r.ttftMs)),
    total: summarize(rounds.flatMap((r) => r.totalMs)),
  };
}

interface ModeResult {
  mode: string;
  quiet: Round[];
  loaded: Round[];
  bigPrompt: { answeredMs: number; status: number };
}

/**
 * One deployment (`kvasir serve` with `threadFlags`): the quiet rounds, then rounds begun while the big prompt is
 * in flight (after its upload and parse, about half a second), until it is answered or ROUNDS are done.
 */
async function measure(mode: string, threadFlags: string[]): Promise<ModeResult> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const serve = await spawnNode(
    repoFile("apps/cli/src/main.ts"),
    [
      "serve",
      "--workers",
      "1",
      "--speedup-ratio",
      "10",
      "--context-length",
      String(CONTEXT),
      ...threadFlags,
      "--http-host",
      "127.0.0.1",
      "--http-port",
      String(port),
    ],
    { readyLine: /"serving"/, readyTimeoutMs: 30_000 },
  );
  try {
    await waitForModel(base, MODEL);
    // Warm up (connections, JIT, a tokenizer thread's first load), then the quiet baseline.
    await round(base, 0);
    const warm = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chatBody(gibberish(100_000), false),
    });
    await warm.text();
    const quiet: Round[] = [];
    for (let n = 0; n < ROUNDS; n++) quiet.push(await round(base, n));

    const body = chatBody(gibberish(BIG_CHARS));
    const sent = performance.now();
    let answeredMs = 0;
    const big = fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    }).then(async (res) => {
      await res.text();
      answeredMs = performance.now() - sent;
      return res.status;
    });
    await sleep(1000);
    const loaded: Round[] = [];
    while (loaded.length < ROUNDS && answeredMs === 0) loaded.push(await round(base, 100 + loaded.length));
    const status = await big;
    return { mode, quiet, loaded, bigPrompt: { answeredMs, status } };
  } finally {
    serve.kill("SIGTERM");
    await serve.exited;
  }
}

async function main(): Promise<void> {
  benchFlags(
    "bench:big-prompt",
    "Latency of /health and short streams with and without a 7.8 MB prompt being tokenized, inline and on threads.",
    [],
  );
  const results = [
    await measure("inline (--tokenizer-threads 0)", ["--tokenizer-threads", "0"]),
    await measure("tokenizer thread (default)", []),
  ];
  const headers = [
    "tokenizing",
    "condition",
    "rounds",
    "/health p50",
    "/health p99",
    "TTFT p50",
    "TTFT p99",
    "stream p50",
    "stream p99",
    "failed",
  ];
  const row = (mode: string, name: string, rounds: Round[]) => {
    const s = summaries(rounds);
    return [
      mode,
      name,
      rounds.length,
      s.health.p50,
      s.health.p99,
      s.ttft.p50,
      s.ttft.p99,
      s.total.p50,
      s.total.p99,
      failures(rounds),
    ];
  };
  console.log(`latency in ms; ${SHORTS} short streams and one /health per round`);
  console.log(
    formatTable(
      headers,
      results.flatMap((r) => [
        row(r.mode, "quiet", r.quiet),
        row(r.mode, "7.8 MB prompt in flight", r.loaded),
      ]),
      1,
    ),
  );
  for (const r of results) {
    console.log(
      `${r.mode}: the big prompt was answered ${r.bigPrompt.status} after ${r.bigPrompt.answeredMs.toFixed(0)} ms`,
    );
  }
  const path = writeBenchResult("big-prompt", {
    command: "pnpm bench:big-prompt",
    model: MODEL,
    bigPromptChars: BIG_CHARS,
    shortStreamsPerRound: SHORTS,
    results: results.map((r) => ({
      mode: r.mode,
      quiet: { rounds: r.quiet.length, failures: failures(r.quiet), ...summaries(r.quiet) },
      bigPromptInFlight: { rounds: r.loaded.length, failures: failures(r.loaded), ...summaries(r.loaded) },
      bigPrompt: r.bigPrompt,
    })),
  });
  console.log(`wrote ${path}`);
}

await main();
