// Goodput: completed requests per second that met a latency SLA. A request's ITL is the mean gap between its
// output tokens (genai-perf's per-request inter_token_latency, DistServe's TPOT); the strict variant holds every
// single gap to the SLA, which is what a user watching a stream stall notices.
import type { CompletionTiming } from "./openai-client.js";

export interface Sla {
  ttftMs: number;
  itlMs: number;
}

export interface Goodput {
  /** Successful requests that met the TTFT SLA and whose mean token gap met the ITL SLA. */
  met: number;
  /** Those that also had no single token gap above the ITL SLA. */
  metStrict: number;
  requestsPerSecond: number;
  strictRequestsPerSecond: number;
  /** met over all requests sent (failures count as misses). */
  fraction: number;
}

/** Whether one request met the SLA: on mean token gap, or (strict) on every gap. */
export function meetsSla(t: CompletionTiming, sla: Sla, strict = false): boolean {
  if (!t.ok || t.ttftMs === undefined || t.ttftMs > sla.ttftMs) return false;
  if (t.itlMs.length === 0) return true;
  if (strict) return t.itlMs.every((gap) => gap <= sla.itlMs);
  const mean = t.itlMs.reduce((a, b) => a + b, 0) / t.itlMs.length;
  return mean <= sla.itlMs;
}

/** Goodput over `wallSeconds` (the run's span, first send to last completion). */
export function goodput(timings: readonly CompletionTiming[], sla: Sla, wallSeconds: number): Goodput {
  const met = timings.filter((t) => meetsSla(t, sla)).length;
  const metStrict = timings.filter((t) => meetsSla(t, sla, true)).length;
  const rate = (n: number) => (wallSeconds > 0 ? n / wallSeconds : 0);
  return {
    met,
    metStrict,
    requestsPerSecond: rate(met),
    strictRequestsPerSecond: rate(metStrict),
    fraction: timings.length === 0 ? 0 : met / timings.length,
  };
}

/**
 * Failed requests counted by reason: the HTTP status when there was one, else the error message without the
 * numbers and ids that would make every failure its own reason.
 */
export function failureReasons(timings: readonly CompletionTiming[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const t of timings) {
    if (t.ok) continue;
    const reason =
      t.status !== 0 && t.status !== 200
        ? `HTTP ${t.status}`
        : (t.error ?? "unknown")
            .replace(/[0-9a-f]{8,}/gi, "<id>")
            .replace(/\d+/g, "<n>")
            .slice(0, 80);
    counts[reason] = (counts[reason] ?? 0) + 1;
  }
  return counts;
}
