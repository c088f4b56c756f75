import { describe, expect, it } from "vitest";
import { resolveMockerConfig } from "./config.js";
import { createStepTimer, type StepWork } from "./timing.js";

const prefill = (newTokens: number, contextTokens = 0): StepWork => ({
  prefills: [{ newTokens, contextTokens }],
  decodeSeqs: 0,
  decodeKvTokens: 0,
});
const decode = (decodeSeqs: number, decodeKvTokens: number): StepWork => ({
  prefills: [],
  decodeSeqs,
  decodeKvTokens,
});

const profileJson = {
  prefill_isl: [100, 1000, 3000],
  prefill_ttft_ms: [5, 12, 30],
  decode_active_kv_tokens: [1000, 100000],
  decode_context_length: [100, 1000],
  decode_itl: [
    [4, 5],
    [8, 10],
  ],
};

describe("default timing model", () => {
  const timer = createStepTimer(resolveMockerConfig());

  it("matches the calibration point: 3000-token prefill about 27 ms, ITL about 9.8 ms at batch 100", () => {
    expect(timer(prefill(3000))).toBeCloseTo(27, 0);
    expect(timer(decode(100, 100 * 3075))).toBeCloseTo(9.8, 1);
  });

  it("grows with new prefill tokens and with context already attended", () => {
    let last = 0;
    for (const n of [1, 16, 512, 2048, 8192]) {
      const t = timer(prefill(n));
      expect(t).toBeGreaterThan(last);
      last = t;
    }
    expect(timer(prefill(512, 4096))).toBeGreaterThan(timer(prefill(512, 0)));
    // The attention term makes a long prompt cost more than the same tokens in independent short prompts.
    const split: StepWork = {
      prefills: Array.from({ length: 8 }, () => ({ newTokens: 1024, contextTokens: 0 })),
      decodeSeqs: 0,
      decodeKvTokens: 0,
    };
    expect(timer(prefill(8192))).toBeGreaterThan(timer(split));
  });

  it("grows with decode batch size and active KV tokens", () => {
    expect(timer(decode(2, 2000))).toBeGreaterThan(timer(decode(1, 2000)));
    expect(timer(decode(8, 80000))).toBeGreaterThan(timer(decode(8, 8000)));
  });

  it("costs nothing for an empty step, and speedupRatio divides every duration", () => {
    expect(timer(decode(0, 0))).toBe(0);
    const fast = createStepTimer(resolveMockerConfig({ speedupRatio: 4 }));
    expect(fast(prefill(1000))).toBeCloseTo(timer(prefill(1000)) / 4, 9);
    expect(fast(decode(10, 10000))).toBeCloseTo(timer(decode(10, 10000)) / 4, 9);
  });
});

describe("perf profile", () => {
  it("replaces the polynomial model: prefill by total new tokens, decode by (active KV, mean context)", () => {
    const timer = createStepTimer(resolveMockerConfig({ perfProfile: profileJson, speedupRatio: 2 }));
    expect(timer(prefill(1000))).toBeCloseTo(6, 9);
    expect(timer(prefill(2000))).toBeCloseTo(10.5, 9);
    // Two chunks of one step count as their 2,000 tokens together.
    const twoChunks: StepWork = {
      prefills: [
        { newTokens: 1000, contextTokens: 0 },
        { newTokens: 1000, contextTokens: 500 },
      ],
      decodeSeqs: 0,
      decodeKvTokens: 0,
    };
    expect(timer(twoChunks)).toBeCloseTo(10.5, 9);
    // 10 sequences, 10000 KV tokens: mean context 1000, a tenth of the way from 1,000 to 100,000 KV tokens.
    expect(timer(decode(10, 10000))).toBeCloseTo((5 + (10 - 5) * (9000 / 99000)) / 2, 9);
    // A mixed step takes the sum; an empty one nothing.
    expect(timer({ ...decode(10, 10000), prefills: prefill(1000).prefills })).toBeCloseTo(
      timer(prefill(1000)) + timer(decode(10, 10000)),
      9,
    );
    expect(timer(decode(0, 0))).toBe(0);
  });

  it("refuses a malformed profile with a message naming the field (the check is @kvasir/protocol's)", () => {
    expect(() => resolveMockerConfig({ perfProfile: { prefill_isl: [1] } })).toThrow(/prefill_ttft_ms/);
    expect(() => resolveMockerConfig({ perfProfile: { ...profileJson, prefill_isl: [3, 2, 1] } })).toThrow(
      /prefill_isl must be strictly increasing/,
    );
  });
});
