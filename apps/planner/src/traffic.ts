// The frontends' traffic as the planner reads it: Dynamo's dynamo_frontend_* families, summed over frontends,
// turned into one interval's Traffic. Pure; the sources (PromQL, direct scrape) only fetch the numbers.
import type { Traffic } from "./decide.js";

/** The families the planner reads, with Dynamo's names (Dynamo's planner queries the same ones). */
export const FRONTEND_FAMILIES = {
  requestsStarted: "dynamo_frontend_requests_started_total",
  requests: "dynamo_frontend_requests_total",
  ttft: "dynamo_frontend_time_to_first_token_seconds",
  itl: "dynamo_frontend_inter_token_latency_seconds",
  isl: "dynamo_frontend_input_sequence_tokens",
  osl: "dynamo_frontend_output_sequence_tokens",
  duration: "dynamo_frontend_request_duration_seconds",
} as const;

export type HistogramKey = "ttft" | "itl" | "isl" | "osl" | "duration";
export const HISTOGRAM_KEYS: readonly HistogramKey[] = ["ttft", "itl", "isl", "osl", "duration"];

/** Cumulative counters (or their increase over an interval): requests started, and each histogram's sum and count. */
export interface FrontendTotals {
  requests: number;
  sums: Record<HistogramKey, number>;
  counts: Record<HistogramKey, number>;
}

export const zeroTotals = (): FrontendTotals => ({
  requests: 0,
  sums: { ttft: 0, itl: 0, isl: 0, osl: 0, duration: 0 },
  counts: { ttft: 0, itl: 0, isl: 0, osl: 0, duration: 0 },
});

export function addTotals(a: FrontendTotals, b: FrontendTotals): FrontendTotals {
  const out = zeroTotals();
  out.requests = a.requests + b.requests;
  for (const k of HISTOGRAM_KEYS) {
    out.sums[k] = a.sums[k] + b.sums[k];
    out.counts[k] = a.counts[k] + b.counts[k];
  }
  return out;
}

/** now - before, per field; a field that went down was reset (a restarted frontend) and counts from zero. */
export function increase(before: FrontendTotals, now: FrontendTotals): FrontendTotals {
  const d = (b: number, n: number) => (n >= b ? n - b : n);
  const out = zeroTotals();
  out.requests = d(before.requests, now.requests);
  for (const k of HISTOGRAM_KEYS) {
    // A histogram resets as a whole: judge by its count.
    const reset = now.counts[k] < before.counts[k];
    out.sums[k] = reset ? now.sums[k] : now.sums[k] - before.sums[k];
    out.counts[k] = reset ? now.counts[k] : now.counts[k] - before.counts[k];
  }
  return out;
}

/** One interval's increases as Traffic: means of the histograms (0 with no observation), latencies in ms. */
export function trafficOf(delta: FrontendTotals): Traffic {
  const avg = (k: HistogramKey) => (delta.counts[k] > 0 ? delta.sums[k] / delta.counts[k] : 0);
  return {
    requests: delta.requests,
    isl: avg("isl"),
    osl: avg("osl"),
    ttftMs: avg("ttft") * 1000,
    itlMs: avg("itl") * 1000,
    durationS: avg("duration"),
  };
}

/** A source of the last interval's traffic; undefined when it could not be read (the planner then holds). */
export interface TrafficSource {
  read(intervalS: number): Promise<Traffic | undefined>;
  close?(): void;
}
