// `pnpm bench:frontend`: what the frontend costs. Streams chat completions through the frontend to a mocker
// worker whose timing is scaled to near zero, and the same prompts (as token ids) straight to the worker's
// Generate, side by side, at concurrency 1 and 64. Prints a table and writes bench-results/frontend.json.
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatTable, SseDecoder, type Summary, summarize, writeBenchResult } from "@kvasir/bench";
import { ChatTemplate, defaultModelSource, loadTokenizer } from "@kvasir/llm";
import { WorkerService } from "@kvasir/protocol";
import type { FlagSpec } from "@kvasir/runtime";
import { createClient } from "@kvasir/runtime";
import { freePort, type NodeProcess, spawnNode, waitFor } from "@kvasir/testing";
import { benchFlags } from "./flags.js";
import { repoFile } from "./repo.js";

const MODEL = "Qwen/Qwen3-0.6B";
const OUTPUT_TOKENS = 32;
const SPEEDUP = 1_000_000;
const RUNS = [
  { concurrency: 1, requests: 300 },
  { concurrency: 64, requests: 3000 },
];

interface Timing {
  ttftMs: number;
  tokens: number;
}

interface PathResult {
  requestsPerSecond: number;
  tokensPerSecond: number;
  ttftMs: Summary;
  failed: number;
}

/** Runs `requests` calls of `one` with at most `concurrency` in flight; returns throughput and TTFT. */
async function drive(
  concurrency: number,
  requests: number,
  one: (i: number) => Promise<Timing>,
): Promise<PathResult> {
  const timings: Timing[] = [];
  let failed = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const i = next++;
        try {
          timings.push(await one(i));
        } catch {
          failed++;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const tokens = timings.reduce((sum, t) => sum + t.tokens, 0);
  return {
    requestsPerSecond: timings.length / seconds,
    tokensPerSecond: tokens / seconds,
    ttftMs: summarize(timings.map((t) => t.ttftMs)),
    failed,
  };
}

/** A chat chunk whose delta carries text (the role chunk's content is empty). */
const FIRST_TEXT = /"delta":\{[^}]*"content":"[^"]/;

/** completion_tokens of the stream's usage event. */
function usageOf(stream: string): number | undefined {
  for (const data of new SseDecoder().push(stream)) {
    if (!data.includes('"usage":{')) continue;
    const chunk = JSON.parse(data) as { usage: { completion_tokens: number } };
    return chunk.usage.completion_tokens;
  }
  return undefined;
}

const prompt = (i: number) =>
  `Request ${i}: summarise the plot of a novel about a lighthouse keeper in three sentences.`;

// No flags: the runs are fixed so results compare across commits; parsing still gives --help and rejects typos.
const flags: FlagSpec[] = [];

async function main(): Promise<void> {
  benchFlags(
    "bench:frontend",
    "Streams chat completions through the frontend and straight to the worker; compares TTFT and tokens/s.",
    flags,
  );
  const dir = mkdtempSync(join(tmpdir(), "kvasir-bench-frontend-"));
  const planes = ["--discovery-backend", "file", "--discovery-file", join(dir, "discovery.json")];
  planes.push("--namespace", "bench-frontend");
  const processes: NodeProcess[] = [];
  try {
    const worker = await spawnNode(
      repoFile("apps/worker/src/main.ts"),
      [...planes, "--speedup-ratio", String(SPEEDUP), "--max-num-seqs", "256"],
      { readyLine: /worker ready/ },
    );
    processes.push(worker);
    const workerUrl = (JSON.parse(await worker.waitForLine(/worker ready/)) as { url: string }).url;
    const port = await freePort();
    const frontend = await spawnNode(repoFile("apps/frontend/src/main.ts"), [
      ...planes,
      "--log-level",
      "warn",
      "--http-host",
      "127.0.0.1",
      "--http-port",
      String(port),
    ]);
    processes.push(frontend);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/health`).catch(() => undefined))?.ok === true, {
      timeoutMs: 20_000,
      message: "frontend sees the worker",
    });

    // The direct path gets exactly the tokens the frontend would send.
    const tokenizer = await loadTokenizer(defaultModelSource());
    const template = new ChatTemplate(tokenizer.chatTemplate ?? "", tokenizer.specialTokens);
    const promptTokens = (i: number) =>
      tokenizer.encode(
        template.render({ messages: [{ role: "user", content: prompt(i) }], addGenerationPrompt: true }),
        { addSpecialTokens: false },
      );
    const workerClient = createClient(WorkerService, workerUrl);
    const direct = async (i: number, tokenIds: number[]): Promise<Timing> => {
      const sent = performance.now();
      let ttftMs = 0;
      let tokens = 0;
      for await (const out of workerClient.generate({
        requestId: `direct-${i}-${sent}`,
        model: MODEL,
        tokenIds,
        stop: { maxTokens: OUTPUT_TOKENS, ignoreEos: true },
      })) {
        if (tokens === 0 && out.tokenIds.length > 0) ttftMs = performance.now() - sent;
        tokens += out.tokenIds.length;
      }
      return { ttftMs, tokens };
    };

    const agent = new Agent({ keepAlive: true, maxSockets: 128 });
    const viaFrontend = (i: number): Promise<Timing> =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify({
          model: MODEL,
          messages: [{ role: "user", content: prompt(i) }],
          max_tokens: OUTPUT_TOKENS,
          ignore_eos: true,
          stream: true,
          stream_options: { include_usage: true },
        });
        const sent = performance.now();
        const req = request(
          `${base}/v1/chat/completions`,
          { method: "POST", agent, headers: { "content-type": "application/json" } },
          (res) => {
            if (res.statusCode !== 200) {
              res.resume();
              reject(new Error(`HTTP ${res.statusCode}`));
              return;
            }
            // The load generator does as little as the direct path's client: it spots the first text with a
            // string test, keeps the raw stream, and parses only the usage event at the end.
            const received: string[] = [];
            let ttftMs = 0;
            res.setEncoding("utf8");
            res.on("data", (text: string) => {
              if (ttftMs === 0 && FIRST_TEXT.test(text)) ttftMs = performance.now() - sent;
              received.push(text);
            });
            res.on("end", () => {
              const usage = usageOf(received.join(""));
              if (usage === undefined) reject(new Error("no usage event in the stream"));
              else resolve({ ttftMs, tokens: usage });
            });
            res.on("error", reject);
          },
        );
        req.on("error", reject);
        req.end(body);
      });

    const results: Record<
      string,
      { direct: PathResult; frontend: PathResult; addedTtftP50Ms: number; tokensPerSecondShare: number }
    > = {};
    for (const { concurrency, requests } of RUNS) {
      const tokenIds = Array.from({ length: requests }, (_, i) => promptTokens(i));
      // Warm both paths (connections, JIT) before measuring.
      await drive(concurrency, Math.min(requests, 200), (i) => direct(i, tokenIds[i] ?? []));
      await drive(concurrency, Math.min(requests, 200), viaFrontend);
      const d = await drive(concurrency, requests, (i) => direct(i, tokenIds[i] ?? []));
      const f = await drive(concurrency, requests, viaFrontend);
      results[`c${concurrency}`] = {
        direct: d,
        frontend: f,
        addedTtftP50Ms: f.ttftMs.p50 - d.ttftMs.p50,
        tokensPerSecondShare: f.tokensPerSecond / d.tokensPerSecond,
      };
    }
    agent.destroy();

    const headers = ["concurrency", "path", "requests/s", "tokens/s", "TTFT p50 ms", "TTFT p99 ms", "failed"];
    const rows = Object.entries(results).flatMap(([key, r]) =>
      (["direct", "frontend"] as const).map((path) => [
        key.slice(1),
        path,
        r[path].requestsPerSecond,
        r[path].tokensPerSecond,
        r[path].ttftMs.p50,
        r[path].ttftMs.p99,
        r[path].failed,
      ]),
    );
    console.log(formatTable(headers, rows, 3));
    for (const [key, r] of Object.entries(results)) {
      console.log(
        `concurrency ${key.slice(1)}: frontend adds ${r.addedTtftP50Ms.toFixed(3)} ms to TTFT p50; ` +
          `keeps ${(r.tokensPerSecondShare * 100).toFixed(0)}% of direct tokens/s`,
      );
    }
    const path = writeBenchResult("frontend", {
      command: "pnpm bench:frontend",
      model: MODEL,
      outputTokens: OUTPUT_TOKENS,
      speedupRatio: SPEEDUP,
      runs: RUNS,
      results,
    });
    console.log(`wrote ${path}`);
  } finally {
    for (const p of processes) p.kill("SIGTERM");
    await Promise.all(processes.map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
