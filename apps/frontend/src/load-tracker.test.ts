import { create, LoadMetricsSchema } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import { LoadTracker } from "./load-tracker.js";

const metrics = (dpRank: number, active: number, prefill = 0) =>
  create(LoadMetricsSchema, {
    workerId: 9n,
    dpRank,
    activeKvBlocks: BigInt(active),
    totalKvBlocks: 100n,
    prefillTokensInFlight: BigInt(prefill),
  });

describe("LoadTracker.isBusy", () => {
  it("is busy only when every dp rank is above a threshold", () => {
    const load = new LoadTracker();
    load.apply(metrics(0, 95));
    load.apply(metrics(1, 50));
    expect(load.isBusy(9n, 2, { activeDecodeBlocks: 0.9 })).toBe(false);
    load.apply(metrics(1, 91));
    expect(load.isBusy(9n, 2, { activeDecodeBlocks: 0.9 })).toBe(true);
    expect(load.isBusy(9n, 2, {})).toBe(false);
  });

  it("counts prompt tokens waiting for prefill, and never calls a silent worker busy", () => {
    const load = new LoadTracker();
    expect(load.isBusy(9n, 1, { activePrefillTokens: 10 })).toBe(false);
    load.apply(metrics(0, 0, 4096));
    expect(load.isBusy(9n, 1, { activePrefillTokens: 10 })).toBe(true);
    expect(load.isBusy(9n, 1, { activePrefillTokens: 10_000 })).toBe(false);
  });
});
