import { describe, expect, it } from "vitest";
import { createPredictor, LOAD_PREDICTORS, type LoadPredictorName } from "./predictors.js";

// Requests per 10 s interval: a quiet start, a ramp, a plateau with jitter, a burst and the fall after it.
const SERIES = [
  20, 22, 19, 21, 20, 24, 30, 37, 45, 52, 60, 66, 71, 70, 73, 69, 72, 71, 70, 74, 140, 150, 72, 68, 60, 50,
  40, 31, 24, 21,
];

function replay(name: LoadPredictorName, series: number[], options = {}): number[] {
  const p = createPredictor(name, options);
  return series.map((v) => {
    p.observe(v);
    return p.predict();
  });
}

/** Mean absolute one-step-ahead error over the series. */
function error(name: LoadPredictorName, series: number[], options = {}): number {
  const forecasts = replay(name, series, options);
  let sum = 0;
  for (let i = 1; i < series.length; i++) sum += Math.abs((forecasts[i - 1] ?? 0) - (series[i] ?? 0));
  return sum / (series.length - 1);
}

describe("load predictors", () => {
  it("constant forecasts the last value", () => {
    expect(replay("constant", [3, 9, 4])).toEqual([3, 9, 4]);
  });

  it("moving-average forecasts the mean of its window", () => {
    expect(replay("moving-average", [10, 20, 30, 40], { window: 2 })).toEqual([10, 15, 25, 35]);
  });

  it("kalman smooths noise around a level: closer to the level than the last noisy value", () => {
    const noisy = [50, 58, 43, 55, 46, 53, 44, 57, 49, 51, 42, 58];
    const forecast = replay("kalman", noisy).at(-1) ?? 0;
    expect(Math.abs(forecast - 50)).toBeLessThan(Math.abs((noisy.at(-1) ?? 0) - 50));
  });

  it("arima follows a trend past the last value", () => {
    const ramp = Array.from({ length: 20 }, (_, i) => 10 + 5 * i + (i % 2 === 0 ? 1 : -1));
    const forecast = replay("arima", ramp).at(-1) ?? 0;
    expect(forecast).toBeGreaterThan((ramp.at(-1) ?? 0) - 2);
    expect(forecast).toBeLessThan((ramp.at(-1) ?? 0) + 15);
  });

  it("holt-winters extrapolates a trend and learns a season", () => {
    const ramp = Array.from({ length: 12 }, (_, i) => 10 * i);
    expect(replay("holt-winters", ramp).at(-1)).toBeGreaterThan(110);
    const season = Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? 100 : 20));
    const forecasts = replay("holt-winters", season, { seasonLength: 4, holtGamma: 0.5 });
    // After index 39 (a 20) comes index 40, a peak.
    expect(forecasts.at(-1)).toBeGreaterThan(60);
    expect(error("holt-winters", season, { seasonLength: 4, holtGamma: 0.5 })).toBeLessThan(
      error("constant", season),
    );
  });

  it("every predictor tracks the recorded series better than forecasting its mean", () => {
    const mean = SERIES.reduce((a, b) => a + b, 0) / SERIES.length;
    const baseline = SERIES.slice(1).reduce((a, v) => a + Math.abs(v - mean), 0) / (SERIES.length - 1);
    for (const name of LOAD_PREDICTORS) {
      const forecasts = replay(name, SERIES, { window: 8 });
      for (const f of forecasts) expect(f).toBeGreaterThanOrEqual(0);
      expect(error(name, SERIES, { window: 8 }), name).toBeLessThan(baseline);
    }
  });

  it("log1p keeps forecasts non-negative on a series falling to zero", () => {
    const falling = [100, 60, 30, 10, 3, 1, 0, 0];
    for (const name of LOAD_PREDICTORS) {
      for (const f of replay(name, falling, { log1p: true, minPoints: 2 }))
        expect(f).toBeGreaterThanOrEqual(0);
    }
  });
});
