// The four modes' decision functions (Dynamo's optimization targets plus its load-based scaling), pure: they take
// what was observed and predicted and return a replica count per pool with the reason, nothing else.
import type { PerfModel } from "./perf-model.js";

export const PLANNER_MODES = ["throughput", "latency", "sla", "load"] as const;
export type PlannerMode = (typeof PLANNER_MODES)[number];

/** Dynamo's --mode: which pools the planner sizes. agg sizes the aggregated (`backend`) pool. */
export const TOPOLOGIES = ["disagg", "prefill", "decode", "agg"] as const;
export type Topology = (typeof TOPOLOGIES)[number];
export type PoolName = "prefill" | "decode" | "backend";

export function poolsOf(topology: Topology): PoolName[] {
  return topology === "disagg" ? ["prefill", "decode"] : topology === "agg" ? ["backend"] : [topology];
}

/** One worker rank's load as it published it. */
export interface WorkerSample {
  kvUsage: number;
  waiting: number;
  running: number;
}

export interface PoolObservation {
  pool: PoolName;
  /** Workers routable now. */
  replicas: number;
  workers: WorkerSample[];
}

/** Traffic over the last interval, from the frontends' metrics (Dynamo's Metrics). */
export interface Traffic {
  /** Requests started in the interval. */
  requests: number;
  /** Mean prompt and output lengths (tokens). */
  isl: number;
  osl: number;
  /** Mean TTFT and ITL (ms), 0 when no request finished. */
  ttftMs: number;
  itlMs: number;
  /** Mean request duration (s). */
  durationS: number;
}

export interface PoolDecision {
  pool: PoolName;
  current: number;
  desired: number;
  reason: string;
}

/** Queue-depth and KV thresholds of the throughput and latency modes. */
export interface SaturationThresholds {
  /** Scale up when mean KV usage exceeds this (0..1) ... */
  kvHigh: number;
  /** ... and down when it is below this with nothing queued. */
  kvLow: number;
  /** Scale up when requests waiting per worker exceed this. */
  queueHigh: number;
}

export const THROUGHPUT_THRESHOLDS: SaturationThresholds = { kvHigh: 0.85, kvLow: 0.3, queueHigh: 2 };
export const LATENCY_THRESHOLDS: SaturationThresholds = { kvHigh: 0.6, kvLow: 0.2, queueHigh: 0.5 };

const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/**
 * throughput / latency: saturation of the pool's own workers, no Prometheus needed. Above a threshold the pool
 * grows so the signal would fall back under it (at least by one); below the low KV mark with an empty queue it
 * shrinks by one.
 */
export function decideSaturation(obs: PoolObservation, t: SaturationThresholds): PoolDecision {
  const n = obs.replicas;
  const base = { pool: obs.pool, current: n };
  if (obs.workers.length === 0) return { ...base, desired: n, reason: "no load reported" };
  const kv = mean(obs.workers.map((w) => w.kvUsage));
  const waitingPerWorker = obs.workers.reduce((a, w) => a + w.waiting, 0) / Math.max(1, n);
  const fmt = (x: number) => x.toFixed(2);
  if (kv > t.kvHigh || waitingPerWorker > t.queueHigh) {
    const byKv = Math.ceil((n * kv) / t.kvHigh);
    const byQueue = Math.ceil((n * waitingPerWorker) / Math.max(t.queueHigh, 0.01));
    const desired = Math.max(n + 1, byKv, Math.min(byQueue, n * 2));
    return {
      ...base,
      desired,
      reason: `saturated: kv usage ${fmt(kv)} (high ${t.kvHigh}), waiting/worker ${fmt(waitingPerWorker)} (high ${t.queueHigh})`,
    };
  }
  if (kv < t.kvLow && waitingPerWorker === 0 && n > 1) {
    return { ...base, desired: n - 1, reason: `idle: kv usage ${fmt(kv)} below ${t.kvLow}, nothing waiting` };
  }
  return {
    ...base,
    desired: n,
    reason: `within thresholds: kv usage ${fmt(kv)}, waiting/worker ${fmt(waitingPerWorker)}`,
  };
}

export interface SlaTargets {
  ttftMs: number;
  itlMs: number;
}

export interface SlaInput {
  /** Predicted traffic of the next interval. */
  requests: number;
  isl: number;
  osl: number;
  intervalS: number;
  /** Correction factors (observed/predicted latency). */
  prefillCorrection: number;
  decodeCorrection: number;
}

export interface SlaSizing {
  /** Fractional engines needed (before rounding up): prefill work and decode work. */
  prefillEngines: number;
  decodeEngines: number;
  /** What the model predicts the chosen sizes give. */
  predictedTtftMs: number;
  predictedItlMs: number;
  prefillReason: string;
  decodeReason: string;
}

/** Highest prefill utilisation at which the mean queueing delay (M/D/1) keeps TTFT within target; at most 0.9. */
export function prefillUtilisationCap(serviceMs: number, targetMs: number): number {
  if (serviceMs >= targetMs) return 0.05;
  return Math.min(0.9, (2 * (targetMs - serviceMs)) / (2 * targetMs - serviceMs));
}

/**
 * sla: the predicted load through the performance model. Prefill: prompt tokens/s over one engine's tokens/s at
 * this ISL (its TTFT scaled by the correction), loaded no higher than queueing allows for the TTFT target.
 * Decode: output tokens/s over the best tokens/s one engine gives within the ITL target at context ISL+OSL/2 (the
 * target divided by the correction, as Dynamo's corrected_itl). Dynamo leaves queueing out of prefill sizing and
 * takes min(1, correction) there; Kvasir takes the correction both ways, so a faster deployment needs fewer engines.
 */
export function sizeForSla(model: PerfModel, targets: SlaTargets, input: SlaInput): SlaSizing {
  const isl = Math.max(1, input.isl);
  const osl = Math.max(1, input.osl);
  const interval = Math.max(1e-3, input.intervalS);
  const serviceMs = model.ttftMs(isl) * input.prefillCorrection;
  const perEngine = (isl / serviceMs) * 1000;
  const cap = prefillUtilisationCap(serviceMs, targets.ttftMs);
  const promptTokensPerS = (input.requests * isl) / interval;
  const prefillEngines = promptTokensPerS / (perEngine * cap);
  const rho =
    prefillEngines > 0 ? promptTokensPerS / (perEngine * Math.max(1, Math.ceil(prefillEngines))) : 0;
  const predictedTtftMs =
    serviceMs + (rho < 1 ? (serviceMs * rho) / (2 * (1 - rho)) : Number.POSITIVE_INFINITY);

  const context = isl + osl / 2;
  const capacity = model.decodeCapacity(targets.itlMs / input.decodeCorrection, context);
  const outputTokensPerS = (input.requests * osl) / interval;
  const decodeEngines = outputTokensPerS / capacity.tokensPerSecond;
  const f = (x: number, digits = 1) => x.toFixed(digits);
  return {
    prefillEngines,
    decodeEngines,
    predictedTtftMs,
    predictedItlMs: capacity.itlMs * input.decodeCorrection,
    prefillReason:
      `${f(promptTokensPerS, 0)} prompt tok/s at isl ${f(isl, 0)}: ${f(perEngine, 0)} tok/s per engine ` +
      `(ttft ${f(serviceMs)} ms, correction ${f(input.prefillCorrection, 2)}) at most ${f(cap * 100, 0)}% busy ` +
      `for ttft ${targets.ttftMs} ms` +
      (serviceMs > targets.ttftMs ? "; one prompt alone already misses the ttft target" : ""),
    decodeReason:
      `${f(outputTokensPerS, 0)} output tok/s at context ${f(context, 0)}: ${f(capacity.tokensPerSecond, 0)} tok/s ` +
      `per engine at concurrency ${f(capacity.concurrency)} for itl ${targets.itlMs} ms ` +
      `(correction ${f(input.decodeCorrection, 2)})` +
      (capacity.meetsTarget ? "" : "; the lightest profiled load already misses the itl target"),
  };
}

/** The sla sizing as replica counts per pool of the topology; an aggregated engine does both kinds of work. */
export function decideSla(
  topology: Topology,
  current: Readonly<Record<PoolName, number>>,
  sizing: SlaSizing,
): PoolDecision[] {
  const at = (pool: PoolName, engines: number, reason: string): PoolDecision => ({
    pool,
    current: current[pool],
    desired: Math.max(0, Math.ceil(engines - 1e-9)),
    reason: `sla: ${reason}`,
  });
  if (topology === "agg") {
    return [
      at(
        "backend",
        sizing.prefillEngines + sizing.decodeEngines,
        `prefill ${sizing.prefillEngines.toFixed(2)} + decode ${sizing.decodeEngines.toFixed(2)} engines; ${sizing.prefillReason}; ${sizing.decodeReason}`,
      ),
    ];
  }
  const out: PoolDecision[] = [];
  if (topology !== "decode") out.push(at("prefill", sizing.prefillEngines, sizing.prefillReason));
  if (topology !== "prefill") out.push(at("decode", sizing.decodeEngines, sizing.decodeReason));
  return out;
}

/**
 * load: observed load alone. The pool's concurrency (requests running and waiting, forecast by the predictor)
 * over the concurrency one worker is meant to carry.
 */
export function decideLoad(
  obs: PoolObservation,
  predictedConcurrency: number,
  perWorker: number,
): PoolDecision {
  const desired = Math.max(0, Math.ceil(predictedConcurrency / Math.max(perWorker, 1e-6) - 1e-9));
  return {
    pool: obs.pool,
    current: obs.replicas,
    desired,
    reason: `load: predicted concurrency ${predictedConcurrency.toFixed(1)} at ${perWorker} per worker`,
  };
}
