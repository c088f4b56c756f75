import type { PerfProfile } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import { DEFAULT_KV_COST_CONFIG, pickByCost, workerCosts } from "./cost.js";
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
      model: "linear",
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
      model: "linear",
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

// 1 ms per step plus 0.01 ms per prefill token; decode steps 2 ms plus 1 ms per 1,000 KV tokens.
const profile: PerfProfile = {
  prefillTokens: [1, 1000],
  prefillMs: [1.01, 11],
  decodeKvTokens: [1000, 2000],
  decodeContextLength: [100, 200],
  decodeMs: [
    [3, 3],
    [4, 4],
  ],
};
const ttft = { ...DEFAULT_KV_COST_CONFIG, model: "ttft" as const };
const timed = (
  workerId: bigint,
  prefill: number,
  decodeBlocks: number,
  requests: number,
): WorkerCandidate => ({
  workerId,
  dpRank: 0,
  load: { activePrefillTokens: prefill, activeDecodeBlocks: decodeBlocks, activeRequests: requests },
  perfProfile: profile,
  maxNumBatchedTokens: 1000,
});
const long = { localHashes: new BigUint64Array(0), promptTokens: 1600, blockSize: 16 };

describe("workerCosts with the ttft model", () => {
  it("predicts prefill of backlog plus uncached prompt in budget-sized steps, in ms", () => {
    const [idle] = workerCosts([timed(1n, 0, 0, 0)], long, [], ttft);
    // 1,600 tokens at 1,000 per step: 11 ms + (1 + 0.01 * 600) ms.
    expect(idle?.predictedTtftMs).toBeCloseTo(11 + 7);
    // The cost adds the prompt's own prefill once more: what it delays the worker's next request by.
    expect(idle?.cost).toBeCloseTo(2 * 18);
    // 50 cached blocks leave 800 tokens: one step.
    const [cached] = workerCosts(
      [timed(1n, 0, 0, 0)],
      long,
      [{ workerId: 1n, dpRank: 0, matchedBlocks: 50 }],
      ttft,
    );
    expect(cached?.predictedTtftMs).toBeCloseTo(1 + 8);
    expect(cached?.cost).toBeCloseTo(2 * 9);
    // A backlog of 1,400 tokens queues ahead: 3,000 tokens, three full steps.
    const [busy] = workerCosts([timed(1n, 1400, 0, 0)], long, [], ttft);
    expect(busy?.predictedTtftMs).toBeCloseTo(33);
    expect(busy?.cost).toBeCloseTo(33 + 18);
  });

  it("charges the running sequences' decode time to every prefill step", () => {
    // 125 blocks of 16 = 2,000 KV tokens over 10 sequences: 4 ms per step, two steps.
    const [a] = workerCosts([timed(1n, 0, 125, 10)], long, [], ttft);
    expect(a?.predictedTtftMs).toBeCloseTo(18 + 2 * 4);
  });

  it("sends a prompt to its cache unless the backlog there costs more than recomputing it elsewhere", () => {
    const overlaps = [{ workerId: 1n, dpRank: 0, matchedBlocks: 100 }];
    const pick = (cachedBacklog: number) => {
      const costs = workerCosts([timed(1n, cachedBacklog, 0, 1), timed(2n, 0, 0, 0)], long, overlaps, ttft);
      return costs[
        pickByCost(
          costs.map((c) => c.cost),
          0,
          () => 0,
        )
      ]?.workerId;
    };
    // Elsewhere: 18 ms to first token plus 18 ms of prefill ahead of that worker's next request.
    expect(pick(1000)).toBe(1n); // 11 ms of backlog, nothing recomputed
    expect(pick(3000)).toBe(1n); // 33 ms of backlog still beats recomputing the prompt elsewhere
    expect(pick(4000)).toBe(2n); // 44 ms of backlog does not
  });

  it("borrows a profile for a worker whose card has none, and keeps linear costs when no card has one", () => {
    const bare = { ...timed(2n, 0, 0, 0), perfProfile: undefined };
    const [, b] = workerCosts([timed(1n, 0, 0, 0), bare], long, [], ttft);
    expect(b?.predictedTtftMs).toBeCloseTo(18);
    const [only] = workerCosts([bare], long, [], ttft);
    expect(only?.predictedTtftMs).toBeUndefined();
    expect(only?.cost).toBe(workerCosts([bare], long, [])[0]?.cost);
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
