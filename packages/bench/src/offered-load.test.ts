import { describe, expect, it } from "vitest";
import { offeredLoad, prefillMs, speedupForLoad } from "./offered-load.js";

const timing = {
  stepOverheadMs: 2,
  prefillMsPerToken: 0.01,
  prefillMsPerAttendedPair: 1e-6,
  decodeMsPerSeq: 0,
  decodeMsPerKvToken: 0,
};
const row = (timestamp: number, inputLength: number) => ({
  timestamp,
  inputLength,
  outputLength: 1,
  hashIds: [],
});

describe("prefillMs", () => {
  it("charges each chunk its overhead, its tokens and its attention over everything before it", () => {
    // One chunk of 1000: 2 + 10 + 1e-6 * 1000 * 500.
    expect(prefillMs(1000, timing, 4096)).toBeCloseTo(12.5);
    // Chunks of 600 and 400: (2 + 6 + 1e-6*600*300) + (2 + 4 + 1e-6*400*(600+200)).
    expect(prefillMs(1000, timing, 600)).toBeCloseTo(8.18 + 6.32);
  });
});

describe("offeredLoad", () => {
  const rows = [row(0, 1000), row(500, 1000), row(1000, 1000)];
  const model = { workers: 2, mockerSpeedup: 0.5, timing, chunkTokens: 4096 };

  it("is prefill work over worker time, and grows with the replay speedup", () => {
    // Work 3 * 12.5 / 0.5 = 75 ms over 2 workers * 1000 ms.
    expect(offeredLoad(rows, 1, model)).toBeCloseTo(0.0375);
    expect(offeredLoad(rows, 4, model)).toBeCloseTo(0.15);
  });

  it("inverts to the speedup that reaches a target load", () => {
    const s = speedupForLoad(rows, 0.9, model);
    expect(offeredLoad(rows, s, model)).toBeCloseTo(0.9);
  });
});
