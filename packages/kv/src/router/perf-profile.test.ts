import { describe, expect, it } from "vitest";
import {
  decodeStepMs,
  interpolate1d,
  interpolate2d,
  prefillMs,
  prefillSteps,
  type WorkerPerfProfile,
} from "./perf-profile.js";

const profile: WorkerPerfProfile = {
  prefillTokens: [1, 1000, 2000],
  prefillMs: [1, 10, 25],
  decodeKvTokens: [1000, 2000],
  decodeContextLength: [100, 200],
  decodeMs: [
    [3, 5],
    [4, 6],
  ],
};

describe("perf profile interpolation", () => {
  it("interpolates inside and extends the end segments outside", () => {
    expect(interpolate1d([0, 10], [0, 5], 4)).toBeCloseTo(2);
    expect(interpolate1d([0, 10], [0, 5], 20)).toBeCloseTo(10);
    expect(interpolate1d([5], [7], 100)).toBe(7);
    expect(
      interpolate2d(
        [0, 1],
        [0, 1],
        [
          [0, 1],
          [2, 3],
        ],
        0.5,
        0.5,
      ),
    ).toBeCloseTo(1.5);
  });

  it("splits a prefill into steps of the worker's budget", () => {
    expect(prefillMs(profile, 0, 1000)).toBe(0);
    expect(prefillMs(profile, 500, 1000)).toBeCloseTo(interpolate1d([1, 1000], [1, 10], 500));
    // 2,500 tokens: two full 1,000-token steps of 10 ms and one of 500.
    expect(prefillMs(profile, 2500, 1000)).toBeCloseTo(20 + interpolate1d([1, 1000], [1, 10], 500));
    // Unchunked: one step, extrapolated past the profile's last point.
    expect(prefillMs(profile, 2500, 0)).toBeCloseTo(32.5);
    expect(prefillSteps(2500, 1000)).toBe(3);
    expect(prefillSteps(2500, 0)).toBe(1);
    expect(prefillSteps(0, 1000)).toBe(0);
  });

  it("prices a decode step by total KV tokens and mean context, and nothing when idle", () => {
    expect(decodeStepMs(profile, 2000, 10)).toBeCloseTo(6);
    expect(decodeStepMs(profile, 1500, 10)).toBeCloseTo(4.5);
    expect(decodeStepMs(profile, 0, 0)).toBe(0);
  });
});
