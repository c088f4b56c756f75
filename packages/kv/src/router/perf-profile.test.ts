import type { PerfProfile } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import { prefillMs, prefillSteps } from "./perf-profile.js";

const profile: PerfProfile = {
  prefillTokens: [1, 1000, 2000],
  prefillMs: [1, 10, 25],
  decodeKvTokens: [1000, 2000],
  decodeContextLength: [100, 200],
  decodeMs: [
    [3, 5],
    [4, 6],
  ],
};

/** 500 tokens on the first segment of the profile: 1 + 499 * 9 / 999 ms. */
const half = 1 + (499 * 9) / 999;

describe("chunked prefill time", () => {
  it("splits a prefill into steps of the worker's budget", () => {
    expect(prefillMs(profile, 0, 1000)).toBe(0);
    expect(prefillMs(profile, 500, 1000)).toBeCloseTo(half);
    // 2,500 tokens: two full 1,000-token steps of 10 ms and one of 500.
    expect(prefillMs(profile, 2500, 1000)).toBeCloseTo(20 + half);
    // Unchunked: one step, extrapolated past the profile's last point.
    expect(prefillMs(profile, 2500, 0)).toBeCloseTo(32.5);
    expect(prefillSteps(2500, 1000)).toBe(3);
    expect(prefillSteps(2500, 0)).toBe(1);
    expect(prefillSteps(0, 1000)).toBe(0);
  });
});
