// `pnpm bench:planner`'s pure parts: the load curve over time (ramps and bursts), its arrivals, each run's
// summary (SLA attainment, worker-seconds, scaling actions) and the plot of replicas and load as a Vega spec.
import { type CompletionTiming, meetsSla, type Sla, seededUniform } from "@kvasir/bench";
import type { Spec } from "vega";

/** Request rate (req/s) at fraction `f` of the run: quiet, a ramp to the peak, a plateau, a fall, a short burst. */
export function loadCurve(f: number, base: number, peak: number): number {
  const lin = (a: number, b: number, from: number, to: number) => a + ((b - a) * (f - from)) / (to - from);
  if (f < 0.1) return base;
  if (f < 0.3) return lin(base, peak, 0.1, 0.3);
  if (f < 0.45) return peak;
  if (f < 0.6) return lin(peak, base, 0.45, 0.6);
  if (f < 0.75) return base;
  if (f < 0.8) return peak;
  return base;
}

/** The curve's mean rate (numerically). */
export function meanRate(base: number, peak: number, steps = 1000): number {
  let sum = 0;
  for (let i = 0; i < steps; i++) sum += loadCurve((i + 0.5) / steps, base, peak);
  return sum / steps;
}

/** Arrival times (s) of a Poisson process whose rate follows the curve (thinning at the peak rate). */
export function arrivals(durationS: number, base: number, peak: number, seed: number): number[] {
  const random = seededUniform(seed);
  const out: number[] = [];
  let t = 0;
  for (;;) {
    t += -Math.log(1 - random()) / peak;
    if (t >= durationS) return out;
    if (random() * peak <= loadCurve(t / durationS, base, peak)) out.push(t);
  }
}

export interface Sample {
  /** Seconds since the run started. */
  t: number;
  workers: number;
}

export interface RunSummary {
  name: string;
  requests: number;
  failed: number;
  /** Share of requests that met TTFT and (mean) ITL. */
  slaAttainment: number;
  workerSeconds: number;
  scalingActions: number;
  peakWorkers: number;
}

/** Worker-seconds under a step function sampled at `samples` (each value holds until the next sample). */
export function workerSeconds(samples: Sample[], endS: number): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as Sample;
    const next = samples[i + 1]?.t ?? endS;
    sum += s.workers * Math.max(0, next - s.t);
  }
  return sum;
}

/** Changes of the worker count between samples. */
export function scalingActions(samples: Sample[]): number {
  let n = 0;
  for (let i = 1; i < samples.length; i++) if (samples[i]?.workers !== samples[i - 1]?.workers) n++;
  return n;
}

export function summarize(
  name: string,
  timings: CompletionTiming[],
  samples: Sample[],
  endS: number,
  sla: Sla,
): RunSummary {
  return {
    name,
    requests: timings.length,
    failed: timings.filter((t) => !t.ok).length,
    slaAttainment: timings.length === 0 ? 0 : timings.filter((t) => meetsSla(t, sla)).length / timings.length,
    workerSeconds: workerSeconds(samples, endS),
    scalingActions: scalingActions(samples),
    peakWorkers: Math.max(0, ...samples.map((s) => s.workers)),
  };
}

/** A Vega spec: workers over time per run (left axis) and the offered rate (right axis, dashed). */
export function plotSpec(
  runs: { name: string; samples: Sample[] }[],
  rate: { t: number; rps: number }[],
  title: string,
): Spec {
  const workers = runs.flatMap((r) => r.samples.map((s) => ({ run: r.name, t: s.t, workers: s.workers })));
  return {
    $schema: "https://vega.github.io/schema/vega/v5.json",
    width: 720,
    height: 300,
    padding: 8,
    title: { text: title },
    data: [
      { name: "workers", values: workers },
      { name: "rate", values: rate },
    ],
    scales: [
      { name: "x", type: "linear", domain: { data: "rate", field: "t" }, range: "width" },
      {
        name: "y",
        type: "linear",
        domain: { data: "workers", field: "workers" },
        range: "height",
        nice: true,
        zero: true,
      },
      {
        name: "r",
        type: "linear",
        domain: { data: "rate", field: "rps" },
        range: "height",
        nice: true,
        zero: true,
      },
      { name: "color", type: "ordinal", domain: { data: "workers", field: "run" }, range: "category" },
    ],
    axes: [
      { orient: "bottom", scale: "x", title: "seconds" },
      { orient: "left", scale: "y", title: "workers", tickMinStep: 1 },
      { orient: "right", scale: "r", title: "offered load (req/s, dashed)" },
    ],
    legends: [{ fill: "color", stroke: "color", title: "run", orient: "top-left" }],
    marks: [
      {
        type: "line",
        from: { data: "rate" },
        encode: {
          enter: {
            x: { scale: "x", field: "t" },
            y: { scale: "r", field: "rps" },
            stroke: { value: "#888" },
            strokeDash: { value: [4, 3] },
          },
        },
      },
      {
        type: "group",
        from: { facet: { name: "series", data: "workers", groupby: "run" } },
        marks: [
          {
            type: "line",
            from: { data: "series" },
            encode: {
              enter: {
                x: { scale: "x", field: "t" },
                y: { scale: "y", field: "workers" },
                stroke: { scale: "color", field: "run" },
                strokeWidth: { value: 2 },
                interpolate: { value: "step-after" },
              },
            },
          },
        ],
      },
    ],
  };
}
