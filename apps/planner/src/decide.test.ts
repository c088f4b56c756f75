import { describe, expect, it } from "vitest";
import {
  decideLoad,
  decideSaturation,
  decideSla,
  LATENCY_THRESHOLDS,
  type PoolObservation,
  poolsOf,
  prefillUtilisationCap,
  sizeForSla,
  THROUGHPUT_THRESHOLDS,
} from "./decide.js";
import { PerfModel } from "./perf-model.js";
import { TEST_TABLE } from "./test-profile.js";

const pool = (replicas: number, kvUsage: number, waiting: number): PoolObservation => ({
  pool: "backend",
  replicas,
  workers: Array.from({ length: replicas }, () => ({ kvUsage, waiting, running: 4 })),
});

describe("throughput and latency modes", () => {
  it("scale up on KV usage or queue depth, down when idle, and hold in between", () => {
    expect(decideSaturation(pool(2, 0.95, 0), THROUGHPUT_THRESHOLDS).desired).toBe(3);
    expect(decideSaturation(pool(2, 0.5, 5), THROUGHPUT_THRESHOLDS).desired).toBeGreaterThan(2);
    expect(decideSaturation(pool(3, 0.1, 0), THROUGHPUT_THRESHOLDS)).toMatchObject({
      desired: 2,
      reason: /idle/,
    });
    expect(decideSaturation(pool(2, 0.5, 0), THROUGHPUT_THRESHOLDS)).toMatchObject({ desired: 2 });
    expect(decideSaturation(pool(1, 0.1, 0), THROUGHPUT_THRESHOLDS).desired).toBe(1);
  });

  it("latency reacts at loads throughput tolerates", () => {
    const observed = pool(2, 0.7, 1);
    expect(decideSaturation(observed, THROUGHPUT_THRESHOLDS).desired).toBe(2);
    expect(decideSaturation(observed, LATENCY_THRESHOLDS).desired).toBeGreaterThan(2);
  });

  it("keep the size when no worker reported load", () => {
    expect(
      decideSaturation({ pool: "decode", replicas: 2, workers: [] }, THROUGHPUT_THRESHOLDS).desired,
    ).toBe(2);
  });
});

describe("sla mode", () => {
  const model = new PerfModel(TEST_TABLE);
  const input = {
    requests: 100,
    isl: 1024,
    osl: 128,
    intervalS: 10,
    prefillCorrection: 1,
    decodeCorrection: 1,
  };

  it("needs more engines for more load and for tighter targets", () => {
    const base = sizeForSla(model, { ttftMs: 500, itlMs: 30 }, input);
    const doubled = sizeForSla(model, { ttftMs: 500, itlMs: 30 }, { ...input, requests: 200 });
    const tight = sizeForSla(model, { ttftMs: 120, itlMs: 12 }, input);
    expect(doubled.prefillEngines).toBeCloseTo(base.prefillEngines * 2);
    expect(doubled.decodeEngines).toBeCloseTo(base.decodeEngines * 2);
    expect(tight.prefillEngines).toBeGreaterThan(base.prefillEngines);
    expect(tight.decodeEngines).toBeGreaterThan(base.decodeEngines);
    expect(base.predictedItlMs).toBeLessThanOrEqual(30);
    expect(base.predictedTtftMs).toBeLessThanOrEqual(500);
  });

  it("sizes prefill from the table: 10 req/s of 1024 tokens at 90 ms each is 0.92 engines of work", () => {
    const s = sizeForSla(model, { ttftMs: 10_000, itlMs: 30 }, input);
    expect(s.prefillEngines).toBeCloseTo((10 * 1024) / ((1024 / 90) * 1000) / 0.9);
  });

  it("a slower deployment than profiled (correction > 1) needs more engines", () => {
    const base = sizeForSla(model, { ttftMs: 500, itlMs: 30 }, input);
    const slow = sizeForSla(
      model,
      { ttftMs: 500, itlMs: 30 },
      { ...input, prefillCorrection: 2, decodeCorrection: 2 },
    );
    expect(slow.prefillEngines).toBeGreaterThan(base.prefillEngines);
    expect(slow.decodeEngines).toBeGreaterThan(base.decodeEngines);
  });

  it("maps sizing to pools: disagg two, agg one doing both kinds of work", () => {
    const sizing = sizeForSla(model, { ttftMs: 500, itlMs: 30 }, input);
    const current = { prefill: 1, decode: 1, backend: 1 };
    const disagg = decideSla("disagg", current, sizing);
    expect(disagg.map((d) => d.pool)).toEqual(["prefill", "decode"]);
    expect(disagg[0]?.desired).toBe(Math.ceil(sizing.prefillEngines));
    const agg = decideSla("agg", current, sizing);
    expect(agg).toHaveLength(1);
    expect(agg[0]?.desired).toBe(Math.ceil(sizing.prefillEngines + sizing.decodeEngines));
    expect(agg[0]?.reason).toMatch(/^sla: /);
    expect(poolsOf("prefill")).toEqual(["prefill"]);
  });

  it("caps prefill utilisation so queueing stays within the TTFT target", () => {
    expect(prefillUtilisationCap(100, 100)).toBe(0.05);
    expect(prefillUtilisationCap(100, 150)).toBeCloseTo(0.5);
    expect(prefillUtilisationCap(10, 10_000)).toBe(0.9);
  });
});

describe("load mode", () => {
  it("divides the forecast concurrency by what one worker should carry", () => {
    expect(decideLoad(pool(2, 0, 0), 17, 8).desired).toBe(3);
    expect(decideLoad(pool(2, 0, 0), 16, 8).desired).toBe(2);
    expect(decideLoad(pool(2, 0, 0), 0, 8).desired).toBe(0);
  });
});
