// The streamed load `pnpm bench:frontend` drives: a bounded number of requests in flight, each timed to its first
// text, with failures counted by reason. Shared by the direct-vs-frontend runs and the --num-processes sweep.
import { type Agent, request } from "node:http";
import { SseDecoder, type Summary, summarize } from "@kvasir/bench";
import { failureReason } from "./frontend-processes.js";

export const MODEL = "Qwen/Qwen3-0.6B";
export const OUTPUT_TOKENS = 32;
/** The mocker's timing scaled to near zero, so the worker's simulated GPU is never what limits the frontend. */
export const SPEEDUP = 1_000_000;

export interface Timing {
  ttftMs: number;
  tokens: number;
}

export interface PathResult {
  requestsPerSecond: number;
  tokensPerSecond: number;
  ttftMs: Summary;
  failed: number;
  /** Failed requests by reason (an HTTP status, a socket error code, or what was missing from the stream). */
  failures: Record<string, number>;
}

/** Runs `requests` calls of `one` with at most `concurrency` in flight; returns throughput and TTFT. */
export async function drive(
  concurrency: number,
  requests: number,
  one: (i: number) => Promise<Timing>,
): Promise<PathResult> {
  const timings: Timing[] = [];
  const failures: Record<string, number> = {};
  let failed = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const i = next++;
        try {
          timings.push(await one(i));
        } catch (error) {
          failed++;
          const reason = failureReason(error);
          failures[reason] = (failures[reason] ?? 0) + 1;
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
    failures,
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

export const prompt = (i: number) =>
  `Request ${i}: summarise the plot of a novel about a lighthouse keeper in three sentences.`;

/** One streamed chat completion through the frontend at `base`, over `agent`'s kept-alive connections. */
export function viaFrontend(base: string, agent: Agent, i: number): Promise<Timing> {
  return new Promise((resolve, reject) => {
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
}
