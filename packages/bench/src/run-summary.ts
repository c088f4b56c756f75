// Aggregates the timings of one benchmark run into the figures every serving benchmark reports.
import type { CompletionTiming } from "./openai-client.js";
import { type Summary, summarize } from "./stats.js";

export interface RunSummary {
  requests: number;
  succeeded: number;
  failed: number;
  /** First few distinct failure reasons, for the report. */
  errors: string[];
  ttftMs: Summary;
  itlMs: Summary;
  /** Per request, (e2e - ttft) / (output tokens - 1): mean time per output token after the first. */
  tpotMs: Summary;
  e2eMs: Summary;
  /** Output tokens of successful requests over the span from the first send to the last completion. */
  outputTokensPerSecond: number;
  wallSeconds: number;
  promptTokens: number;
  cachedTokens: number;
  /** cachedTokens / promptTokens over successful requests. */
  prefixHitRate: number;
}

export function summarizeRun(timings: readonly CompletionTiming[]): RunSummary {
  const ok = timings.filter((t) => t.ok);
  const errors = [...new Set(timings.filter((t) => !t.ok).map((t) => t.error ?? `HTTP ${t.status}`))].slice(
    0,
    5,
  );
  let firstSend = Number.POSITIVE_INFINITY;
  let lastEnd = Number.NEGATIVE_INFINITY;
  for (const t of timings) {
    firstSend = Math.min(firstSend, t.sentAt);
    lastEnd = Math.max(lastEnd, t.sentAt + t.e2eMs);
  }
  const wallSeconds = timings.length === 0 ? 0 : (lastEnd - firstSend) / 1000;
  const sum = (pick: (t: CompletionTiming) => number) => ok.reduce((acc, t) => acc + pick(t), 0);
  const outputTokens = sum((t) => t.completionTokens);
  const promptTokens = sum((t) => t.promptTokens);
  const cachedTokens = sum((t) => t.cachedTokens);
  return {
    requests: timings.length,
    succeeded: ok.length,
    failed: timings.length - ok.length,
    errors,
    ttftMs: summarize(ok.flatMap((t) => (t.ttftMs === undefined ? [] : [t.ttftMs]))),
    itlMs: summarize(ok.flatMap((t) => t.itlMs)),
    tpotMs: summarize(
      ok.flatMap((t) =>
        t.ttftMs === undefined || t.completionTokens < 2
          ? []
          : [(t.e2eMs - t.ttftMs) / (t.completionTokens - 1)],
      ),
    ),
    e2eMs: summarize(ok.map((t) => t.e2eMs)),
    outputTokensPerSecond: wallSeconds > 0 ? outputTokens / wallSeconds : 0,
    wallSeconds,
    promptTokens,
    cachedTokens,
    prefixHitRate: promptTokens === 0 ? 0 : cachedTokens / promptTokens,
  };
}
