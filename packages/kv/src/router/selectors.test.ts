import { describe, expect, it } from "vitest";
import { storedFromTokens } from "../events.js";
import { computeLocalHashes } from "../hash.js";
import { RadixIndexer } from "../indexer/radix.js";
import { ActiveSequences } from "./active.js";
import {
  createSelector,
  KvSelector,
  LeastLoadedSelector,
  RandomSelector,
  RoundRobinSelector,
} from "./selectors.js";
import { EMPTY_LOAD, type WorkerCandidate } from "./types.js";

const BS = 16;
const candidates = (ids: bigint[], active: ActiveSequences | undefined = undefined): WorkerCandidate[] =>
  ids.map((workerId) => ({ workerId, dpRank: 0, load: active?.load(workerId, 0) ?? { ...EMPTY_LOAD } }));
const emptyReq = { localHashes: new BigUint64Array(0), promptTokens: 32, blockSize: BS };

describe("simple selectors", () => {
  it("round-robin cycles in order", () => {
    const s = new RoundRobinSelector();
    const picks = Array.from({ length: 5 }, () => s.select(candidates([1n, 2n, 3n]), emptyReq)?.workerId);
    expect(picks).toEqual([1n, 2n, 3n, 1n, 2n]);
    expect(s.select([], emptyReq)).toBeUndefined();
  });

  it("random uses the injected rng", () => {
    const s = new RandomSelector(() => 0.7);
    expect(s.select(candidates([1n, 2n, 3n]), emptyReq)?.workerId).toBe(3n);
  });

  it("least-loaded picks the fewest active requests, ties by rng, and reports known overlap", () => {
    const c = candidates([1n, 2n, 3n]).map((x, i) => ({
      ...x,
      load: { ...x.load, activeRequests: [2, 1, 1][i] ?? 0 },
    }));
    const overlaps = [{ workerId: 3n, dpRank: 0, matchedBlocks: 2 }];
    expect(new LeastLoadedSelector(() => 0).select(c, emptyReq)?.workerId).toBe(2n);
    expect(new LeastLoadedSelector(() => 0.99).select(c, { ...emptyReq, overlaps })).toEqual({
      workerId: 3n,
      dpRank: 0,
      overlapBlocks: 2,
    });
  });

  it("createSelector maps router modes", () => {
    expect(createSelector("round-robin")).toBeInstanceOf(RoundRobinSelector);
    expect(createSelector("random")).toBeInstanceOf(RandomSelector);
    expect(createSelector("least-loaded")).toBeInstanceOf(LeastLoadedSelector);
    expect(createSelector("kv", { config: { temperature: 0.5 } })).toBeInstanceOf(KvSelector);
  });
});

describe("KV routing", () => {
  // 64-block shared prefix (a long system prompt) cached on worker A; each request adds 2 blocks of its own.
  const prefix = Array.from({ length: 64 * BS }, (_, i) => i);
  const request = (n: number) => [
    ...prefix,
    ...Array.from({ length: 2 * BS }, (_, i) => 1_000_000 + n * 100 + i),
  ];
  const A = 1n;
  const B = 2n;
  const C = 3n;

  function setup() {
    const indexer = new RadixIndexer();
    indexer.applyEvent({ workerId: A, dpRank: 0, eventId: 1n, data: storedFromTokens(prefix, BS) });
    const active = new ActiveSequences({ now: () => 0 });
    // B and C are busy with unrelated decodes (prefill done).
    for (const w of [B, C]) {
      active.addRequest({
        requestId: `bg-${w}`,
        workerId: w,
        dpRank: 0,
        promptTokens: 250 * BS,
        overlapBlocks: 0,
        blockSize: BS,
      });
      active.markPrefillComplete(`bg-${w}`);
    }
    const selector = new KvSelector({ indexer, rng: () => 0 });
    const route = (n: number) => {
      const tokens = request(n);
      const req = { localHashes: computeLocalHashes(tokens, BS), promptTokens: tokens.length, blockSize: BS };
      const choice = selector.select(candidates([A, B, C], active), req);
      if (choice === undefined) throw new Error("no choice");
      active.addRequest({ requestId: `r${n}`, ...choice, promptTokens: tokens.length, blockSize: BS });
      return choice;
    };
    return { active, route, selector };
  }

  it("sends a hot prefix to the worker caching it until its load outweighs the overlap, then spills", () => {
    const { route } = setup();
    // Cost on A after n booked requests: prefill (2n + 66 - 64) + decode 66(n + 1) = 68n + 68.
    // Cost on B or C: prefill 66 + decode 250 + 66 = 382. A wins while 68n + 68 < 382, i.e. n <= 4.
    const picks = Array.from({ length: 7 }, (_, n) => route(n));
    expect(picks.slice(0, 5).map((p) => p.workerId)).toEqual([A, A, A, A, A]);
    expect(picks.slice(0, 5).every((p) => p.overlapBlocks === 64)).toBe(true);
    expect([B, C]).toContain(picks[5]?.workerId);
    expect(picks[5]?.overlapBlocks).toBe(0);
  });

  it("returns to the cached worker once its requests finish", () => {
    const { active, route } = setup();
    for (let n = 0; n < 6; n++) route(n);
    for (let n = 0; n < 6; n++) {
      active.markPrefillComplete(`r${n}`);
      active.free(`r${n}`);
    }
    expect(route(100).workerId).toBe(A);
  });

  it("with zero overlap credit the cache is ignored and load decides", () => {
    const indexer = new RadixIndexer();
    indexer.applyEvent({ workerId: A, dpRank: 0, eventId: 1n, data: storedFromTokens(prefix, BS) });
    const selector = new KvSelector({ indexer, rng: () => 0.99, config: { overlapScoreCredit: 0 } });
    const tokens = request(0);
    const req = { localHashes: computeLocalHashes(tokens, BS), promptTokens: tokens.length, blockSize: BS };
    // All idle and equal: the tie goes to the rng's pick (the last), not to the cached worker.
    expect(selector.select(candidates([A, B, C]), req)?.workerId).toBe(C);
    const costs = selector.costs(candidates([A, B, C]), req);
    expect(costs.map((c) => c.overlapBlocks)).toEqual([64, 0, 0]);
  });

  it("prefers overlaps carried by the request over its own indexer", () => {
    const selector = new KvSelector({ indexer: new RadixIndexer(), rng: () => 0 });
    const req = { ...emptyReq, promptTokens: 64, overlaps: [{ workerId: B, dpRank: 0, matchedBlocks: 4 }] };
    expect(selector.select(candidates([A, B]), req)).toEqual({ workerId: B, dpRank: 0, overlapBlocks: 4 });
  });
});
