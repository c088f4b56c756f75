// `pnpm bench:big-prompt`: what a 7.8 MB prompt does to everyone else. Runs `kvasir serve` (one mocker worker),
// then measures /health and short streamed chat completions (20 at a time) with nothing else in flight and while
// a 7.8 MB chat prompt is being templated and tokenized on the frontend's tokenizer threads. Prints a table and
// writes bench-results/big-prompt.json.
import {
  formatTable,
  parsePromText,
  type Summary,
  summarize,
  waitForModel,
  writeBenchResult,
} from "@kvasir/bench";
import { freePort, type NodeProcess, spawnNode, waitFor } from "@kvasir/testing";
import { benchFlags } from "./flags.js";
import { repoFile } from "./repo.js";

const MODEL = "Qwen/Qwen3-0.6B";
const BIG_CHARS = 7_800_000;
const SHORTS = 20;
const ROUNDS = 8;
// Room for the big prompt: it is tokenized (and refused afterwards, being longer), not refused up front.
const CONTEXT = 1_000_000;

/** Words of random letters, new to the tokenizer's cache, as a large pasted document tokenizes. */
function gibberish(chars: number): string {
  let seed = 7;
  const parts: string[] = [];
  let length = 0;
  while (length < chars) {
    const size = 3 + (seed % 8);
    let word = "";
    for (let i = 0; i < size; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      word += String.fromCharCode(97 + (seed % 26));
    }
    parts.push(word);
    length += size + 1;
  }
  return parts.join(" ").slice(0, chars);
}

interface Round {
  healthMs: number;
  ttftMs: number[];
  totalMs: number[];
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

/** SHORTS streams and one /health at once. */
async function round(base: string, n: number): Promise<Round> {
  const health = (async () => {
    const sent = performance.now();
    const res = await fetch(`${base}/health`);
    await res.text();
    return performance.now() - sent;
  })();
  const streams = await Promise.all(
    Array.from({ length: SHORTS }, (_, i) => shortStream(base, n * SHORTS + i)),
  );
  return {
    healthMs: await health,
    ttftMs: streams.map((s) => s.ttftMs),
    totalMs: streams.map((s) => s.totalMs),
  };
}

async function poolTasks(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const samples = parsePromText(text).filter((s) => s.name === "kvasir_frontend_tokenizer_pool_tasks");
  return samples.reduce((sum, s) => sum + s.value, 0);
}

function summaries(rounds: Round[]): { health: Summary; ttft: Summary; total: Summary } {
  return {
    health: summarize(rounds.map((r) => r.healthMs)),
    ttft: summarize(rounds.flatMap((r) => r.ttftMs)),
    total: summarize(rounds.flatMap((r) => r.totalMs)),
  };
}

async function main(): Promise<void> {
  benchFlags(
    "bench:big-prompt",
    "Latency of /health and short streams with and without a 7.8 MB prompt being tokenized.",
    [],
  );
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const processes: NodeProcess[] = [];
  try {
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
        "--http-host",
        "127.0.0.1",
        "--http-port",
        String(port),
      ],
      { readyLine: /"serving"/, readyTimeoutMs: 30_000 },
    );
    processes.push(serve);
    await waitForModel(base, MODEL);

    // Warm up (connections, JIT, the tokenizer thread's first load), then the quiet baseline.
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
    await waitFor(async () => (await poolTasks(base)) >= 1, {
      timeoutMs: 30_000,
      message: "big prompt on the pool",
    });
    const onPoolMs = performance.now() - sent;
    const loaded: Round[] = [];
    // Rounds only count while the big prompt is still on a thread.
    while (loaded.length < ROUNDS && answeredMs === 0) {
      const r = await round(base, 100 + loaded.length);
      if (answeredMs === 0 && (await poolTasks(base)) >= 1) loaded.push(r);
    }
    const bigStatus = await big;

    const q = summaries(quiet);
    const l = summaries(loaded);
    const headers = [
      "condition",
      "rounds",
      "/health p50",
      "/health p99",
      "TTFT p50",
      "TTFT p99",
      "stream p50",
      "stream p99",
    ];
    const row = (name: string, s: ReturnType<typeof summaries>, rounds: number) => [
      name,
      rounds,
      s.health.p50,
      s.health.p99,
      s.ttft.p50,
      s.ttft.p99,
      s.total.p50,
      s.total.p99,
    ];
    console.log(`latency in ms; ${SHORTS} short streams and one /health per round`);
    console.log(
      formatTable(
        headers,
        [row("quiet", q, quiet.length), row("7.8 MB prompt in flight", l, loaded.length)],
        1,
      ),
    );
    console.log(
      `big prompt: on a tokenizer thread after ${onPoolMs.toFixed(0)} ms (upload, JSON parse), answered ${bigStatus} after ${answeredMs.toFixed(0)} ms`,
    );
    const path = writeBenchResult("big-prompt", {
      command: "pnpm bench:big-prompt",
      model: MODEL,
      bigPromptChars: BIG_CHARS,
      shortStreamsPerRound: SHORTS,
      quiet: { rounds: quiet.length, ...q },
      bigPromptInFlight: { rounds: loaded.length, ...l },
      bigPrompt: { onPoolMs, answeredMs, status: bigStatus },
    });
    console.log(`wrote ${path}`);
  } finally {
    for (const p of processes) p.kill("SIGTERM");
    await Promise.all(processes.map((p) => p.exited));
  }
}

await main();
