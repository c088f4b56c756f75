import { describe, expect, it } from "vitest";
import type { PoolName, PoolObservation, Traffic } from "./decide.js";
import { PerfModel } from "./perf-model.js";
import { type Observation, PlannerCore, type PlannerCoreConfig } from "./planner-core.js";
import { TEST_TABLE } from "./test-profile.js";

const limits = { min: 1, max: 10, gpusPerEngine: 1 };
const config = (over: Partial<PlannerCoreConfig> = {}): PlannerCoreConfig => ({
  mode: "sla",
  topology: "agg",
  intervalS: 10,
  targets: { ttftMs: 500, itlMs: 30 },
  perf: new PerfModel(TEST_TABLE),
  predictor: "constant",
  limits: { prefill: limits, decode: limits, backend: limits },
  gpuBudget: -1,
  scaleDownStabilisationMs: 30_000,
  loadTargetConcurrency: 8,
  correction: true,
  ...over,
});

const emptyPool = (pool: PoolName, replicas = 0): PoolObservation => ({ pool, replicas, workers: [] });

function observe(nowMs: number, backend: number, traffic?: Traffic, kvUsage = 0.5): Observation {
  return {
    nowMs,
    ...(traffic ? { traffic } : {}),
    pools: {
      prefill: emptyPool("prefill"),
      decode: emptyPool("decode"),
      backend: {
        pool: "backend",
        replicas: backend,
        workers: Array.from({ length: backend }, () => ({ kvUsage, waiting: 0, running: 3 })),
      },
    },
  };
}

/** Traffic the table itself would produce (no correction), at `requests` per 10 s interval. */
const traffic = (requests: number): Traffic => ({
  requests,
  isl: 1024,
  osl: 128,
  ttftMs: 90,
  itlMs: 10,
  durationS: 1.5,
});

describe("PlannerCore", () => {
  it("sla: follows a step up at once and a step down after the stabilisation window", () => {
    const core = new PlannerCore(config());
    // A recorded step: 10 quiet intervals, 6 busy ones, then quiet again; the planner's decision is applied.
    const series = [
      ...Array<number>(3).fill(20),
      ...Array<number>(6).fill(400),
      ...Array<number>(8).fill(20),
    ];
    let replicas = 1;
    const sizes: number[] = [];
    series.forEach((requests, i) => {
      const adj = core.step(observe(i * 10_000, replicas, traffic(requests)));
      replicas = adj.decisions[0]?.desired ?? replicas;
      sizes.push(replicas);
    });
    const quiet = sizes[2] ?? 0;
    const busy = sizes[8] ?? 0;
    expect(busy).toBeGreaterThan(quiet);
    // The first busy interval already scales up (a constant predictor forecasts the last value).
    expect(sizes[3]).toBe(busy);
    // Two intervals into the quiet phase the busy size is still held (the busy decision at 80 s is within the
    // 30 s window at 100 s) ...
    expect(sizes[10]).toBe(busy);
    // ... and by the end it is back down.
    expect(sizes.at(-1)).toBe(quiet);
  });

  it("sla: reports predictions, forecasts and the correction from observed latency", () => {
    const core = new PlannerCore(config());
    const slow = { ...traffic(100), ttftMs: 180 };
    const adj = core.step(observe(0, 2, slow));
    expect(adj.predicted).toMatchObject({ requests: 100, isl: 1024, osl: 128, requestsPerSecond: 10 });
    expect(adj.expected?.ttftMs).toBe(90);
    expect(adj.correction.prefill).toBeCloseTo(2);
    expect(adj.forecast?.itlMs).toBeLessThanOrEqual(30 * 1.01);
  });

  it("sla: keeps the sizes when no traffic source answered", () => {
    const adj = new PlannerCore(config()).step(observe(0, 3));
    expect(adj.decisions[0]).toMatchObject({ current: 3, desired: 3, reason: /no traffic data/ });
  });

  it("throughput needs no traffic: saturation of the workers scales the pool", () => {
    const core = new PlannerCore(config({ mode: "throughput", targets: undefined, perf: undefined }));
    expect(core.step(observe(0, 2, undefined, 0.95)).decisions[0]?.desired).toBe(3);
  });

  it("load: concurrency over what a worker carries, within max", () => {
    const core = new PlannerCore(
      config({
        mode: "load",
        loadTargetConcurrency: 2,
        limits: { ...config().limits, backend: { ...limits, max: 4 } },
      }),
    );
    const adj = core.step(observe(0, 3, undefined));
    // 3 workers running 3 each = 9 in flight, 2 per worker: 5, clamped to 4.
    expect(adj.decisions[0]).toMatchObject({ desired: 4, reason: /clamped/ });
  });

  it("refuses sla mode without targets or a profile", () => {
    expect(() => new PlannerCore(config({ perf: undefined }))).toThrow(/performance profile/);
  });
});
