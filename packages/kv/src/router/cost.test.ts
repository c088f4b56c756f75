import { describe, expect, it } from "vitest";
import { pickByCost, workerCosts } from "./cost.js";
import type { WorkerCandidate } from "./types.js";

const cand = (workerId: bigint, prefill: number, decode: number): WorkerCandidate => ({
  workerId,
  dpRank: 0,
  load: { activePrefillTokens: prefill, activeDecodeBlocks: decode, activeRequests: 0 },
});
const req = { localHashes: new BigUint64Array(0), promptTokens: 100, blockSize: 16 };

/** A deterministic sequence of rng values. */
function seq(...values: number[]) {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

describe("workerCosts", () => {
  it("follows Dynamo's formula", () => {
    const overlaps = [{ workerId: 1n, dpRank: 0, matchedBlocks: 4 }];
    const [a, b] = workerCosts([cand(1n, 32, 10), cand(2n, 0, 3)], req, overlaps, {
      overlapScoreCredit: 0.5,
      prefillLoadScale: 2,
      temperature: 0,
    });
    // a: prefill (32 + 100) / 16 = 8.25, minus 0.5 * 4 -> 6.25; decode 10 + ceil(100/16)=7 -> 17
    expect(a?.adjustedPrefillBlocks).toBeCloseTo(6.25);
    expect(a?.potentialDecodeBlocks).toBe(17);
    expect(a?.cost).toBeCloseTo(2 * 6.25 + 17);
    expect(a?.overlapBlocks).toBe(4);
    expect(a?.potentialPrefillTokens).toBe(32 + 100 - 64);
    // b: no overlap: 100/16 = 6.25; decode 3 + 7
    expect(b?.cost).toBeCloseTo(2 * 6.25 + 10);
    expect(b?.overlapBlocks).toBe(0);
  });

  it("never lets adjusted prefill go negative, and caps overlap at the prompt's blocks", () => {
    const [a] = workerCosts([cand(1n, 0, 0)], req, [{ workerId: 1n, dpRank: 0, matchedBlocks: 50 }], {
      overlapScoreCredit: 3,
      prefillLoadScale: 1,
      temperature: 0,
    });
    expect(a?.adjustedPrefillBlocks).toBe(0);
    expect(a?.overlapBlocks).toBe(7);
    expect(a?.potentialPrefillTokens).toBe(0);
  });

  it("matches overlaps by dp rank too", () => {
    const c = { ...cand(1n, 0, 0), dpRank: 1 };
    const [x] = workerCosts([c], req, [{ workerId: 1n, dpRank: 0, matchedBlocks: 3 }]);
    expect(x?.overlapBlocks).toBe(0);
  });
});

describe("pickByCost", () => {
  it("picks the lowest cost at temperature 0 and breaks ties with the rng", () => {
    expect(pickByCost([5, 2, 9], 0, seq(0.99))).toBe(1);
    expect(pickByCost([3, 1, 1, 4], 0, seq(0))).toBe(1);
    expect(pickByCost([3, 1, 1, 4], 0, seq(0.99))).toBe(2);
    expect(pickByCost([], 0, seq(0))).toBe(-1);
  });

  it("samples by softmax over negated normalized costs when temperature > 0", () => {
    // costs [0, 10] normalize to [0, 1]; weights exp(0) = 1 and exp(-1/0.5) = e^-2.
    const p0 = 1 / (1 + Math.exp(-2));
    expect(pickByCost([0, 10], 0.5, seq(p0 - 1e-9))).toBe(0);
    expect(pickByCost([0, 10], 0.5, seq(p0 + 1e-9))).toBe(1);
    // Scaling every cost leaves the distribution unchanged (normalization).
    expect(pickByCost([0, 1000], 0.5, seq(p0 + 1e-9))).toBe(1);
    // Equal costs: uniform.
    expect(pickByCost([7, 7, 7], 2, seq(0.5))).toBe(1);
  });

  it("spreads picks more as temperature rises", () => {
    const costs = [0, 5, 10];
    const share = (t: number) => {
      let x = 0;
      const n = 3000;
      for (let i = 0; i < n; i++) if (pickByCost(costs, t, () => (i + 0.5) / n) === 0) x++;
      return x / n;
    };
    expect(share(0.1)).toBeGreaterThan(share(1));
    expect(share(1)).toBeGreaterThan(share(10));
    expect(share(10)).toBeGreaterThan(1 / 3);
  });
});
