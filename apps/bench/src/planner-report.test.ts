import type { CompletionTiming } from "@kvasir/bench";
import { describe, expect, it } from "vitest";
import { arrivals, loadCurve, meanRate, scalingActions, summarize, workerSeconds } from "./planner-report.js";

const timing = (ok: boolean, ttftMs: number, itlMs: number[]): CompletionTiming => ({
  ok,
  status: ok ? 200 : 0,
  sentAt: 0,
  ttftMs,
  itlMs,
  e2eMs: 0,
  promptTokens: 0,
  completionTokens: 0,
  cachedTokens: 0,
});

describe("bench:planner report", () => {
  it("shapes the load: base, ramp, peak, fall, burst", () => {
    expect(loadCurve(0.05, 2, 10)).toBe(2);
    expect(loadCurve(0.2, 2, 10)).toBeCloseTo(6);
    expect(loadCurve(0.4, 2, 10)).toBe(10);
    expect(loadCurve(0.77, 2, 10)).toBe(10);
    expect(loadCurve(0.9, 2, 10)).toBe(2);
    expect(meanRate(2, 10)).toBeCloseTo(2 + 8 * (0.2 / 2 + 0.15 + 0.15 / 2 + 0.05), 2);
  });

  it("draws arrivals that follow the curve and are reproducible", () => {
    const a = arrivals(100, 2, 10, 7);
    expect(arrivals(100, 2, 10, 7)).toEqual(a);
    const peak = a.filter((t) => t >= 30 && t < 45).length / 15;
    const quiet = a.filter((t) => t >= 85).length / 15;
    expect(peak).toBeGreaterThan(quiet * 2.5);
    expect(a.length / 100).toBeCloseTo(meanRate(2, 10), 0);
  });

  it("counts worker-seconds and scaling actions from samples", () => {
    const samples = [
      { t: 0, workers: 1 },
      { t: 10, workers: 3 },
      { t: 20, workers: 1 },
    ];
    expect(workerSeconds(samples, 30)).toBe(10 + 30 + 10);
    expect(scalingActions(samples)).toBe(2);
  });

  it("counts a failure and a slow request as SLA misses", () => {
    const s = summarize(
      "x",
      [
        timing(true, 100, [10, 10]),
        timing(true, 900, [10]),
        timing(true, 100, [50, 50]),
        timing(false, 0, []),
      ],
      [{ t: 0, workers: 2 }],
      10,
      { ttftMs: 500, itlMs: 30 },
    );
    expect(s).toMatchObject({
      requests: 4,
      failed: 1,
      slaAttainment: 0.25,
      workerSeconds: 20,
      peakWorkers: 2,
    });
  });
});
