import { describe, expect, it } from "vitest";
import { storedFromTokens } from "../events.js";
import { computeLocalHashes } from "../hash.js";
import { ApproxIndexer } from "./approximate.js";
import type { WorkerMatch } from "./types.js";

const BS = 4;
const tokensOf = (ids: number[]) => ids.flatMap((id) => [id, id + 1, id + 2, id + 3]);
const local = (ids: number[]) => computeLocalHashes(tokensOf(ids), BS);
const sorted = (m: WorkerMatch[]) =>
  m
    .map((x) => `${x.workerId}/${x.dpRank}=${x.matchedBlocks}`)
    .sort()
    .join(" ");

function setup() {
  const clock = { t: 1_000 };
  const ix = new ApproxIndexer({ ttlMs: 100, now: () => clock.t });
  return { clock, ix };
}

describe("ApproxIndexer", () => {
  it("predicts a routed prefix on the chosen worker until the TTL passes", () => {
    const { clock, ix } = setup();
    ix.recordRouting(1n, 0, local([10, 20, 30]));
    expect(sorted(ix.findMatches(local([10, 20, 40])))).toBe("1/0=2");
    clock.t += 99;
    expect(sorted(ix.findMatches(local([10, 20, 30])))).toBe("1/0=3");
    clock.t += 1;
    expect(ix.findMatches(local([10, 20, 30]))).toEqual([]);
    expect(ix.workerBlocks()).toEqual([{ workerId: 1n, dpRank: 0, blocks: 0 }]);
  });

  it("refreshes the TTL of blocks routed again, and only those", () => {
    const { clock, ix } = setup();
    ix.recordRouting(1n, 0, local([10, 20, 30]));
    clock.t += 60;
    ix.recordRouting(1n, 0, local([10, 20]));
    clock.t += 60;
    expect(sorted(ix.findMatches(local([10, 20, 30])))).toBe("1/0=2");
  });

  it("uses chain semantics and keeps workers and ranks apart", () => {
    const { ix } = setup();
    ix.recordRouting(1n, 0, local([10, 20]));
    ix.recordRouting(2n, 1, local([30, 20]));
    expect(sorted(ix.findMatches(local([30, 20])))).toBe("2/1=2");
    expect(ix.findMatches(local([20]))).toEqual([]);
    ix.removeWorker(2n);
    expect(ix.findMatches(local([30, 20]))).toEqual([]);
    expect(sorted(ix.findMatches(local([10])))).toBe("1/0=1");
    ix.clear();
    expect(ix.findMatches(local([10]))).toEqual([]);
  });

  it("applies stored, removed and cleared events", () => {
    const { ix } = setup();
    const s = storedFromTokens(tokensOf([10, 20, 30]), BS);
    ix.applyEvent({ workerId: 3n, dpRank: 0, eventId: 1n, data: s });
    expect(sorted(ix.findMatches(local([10, 20, 30])))).toBe("3/0=3");
    ix.applyEvent({
      workerId: 3n,
      dpRank: 0,
      eventId: 2n,
      data: { kind: "removed", seqHashes: s.seqHashes.slice(1, 2) },
    });
    expect(sorted(ix.findMatches(local([10, 20, 30])))).toBe("3/0=1");
    ix.applyEvent({ workerId: 3n, dpRank: 0, eventId: 3n, data: { kind: "cleared" } });
    expect(ix.findMatches(local([10]))).toEqual([]);
  });

  it("keeps only the routes of the last TTL window over a long run", () => {
    const { clock, ix } = setup();
    for (let i = 0; i < 5_000; i++) {
      ix.recordRouting(BigInt(i % 4), 0, local([i]));
      clock.t += 1;
    }
    const live = ix.workerBlocks().reduce((a, w) => a + w.blocks, 0);
    // Routed at t-100 .. t-1 with a 100 ms TTL: the one routed at t-100 expires exactly now.
    expect(live).toBe(99);
  });
});

describe("ApproxIndexer entry cap", () => {
  it("evicts the least recently routed entries past maxEntries, down to the prune target", () => {
    const clock = { t: 0 };
    const ix = new ApproxIndexer({
      ttlMs: 1_000_000,
      now: () => clock.t,
      maxEntries: 10,
      pruneTargetRatio: 0.5,
    });
    for (let p = 0; p < 5; p++) ix.recordRouting(1n, 0, local([p * 100, p * 100 + 1]));
    expect(ix.size).toBe(10);
    // Routing prefix 0 again makes it the most recent; the next new prefix pushes past the cap.
    ix.recordRouting(1n, 0, local([0, 1]));
    ix.recordRouting(1n, 0, local([900]));
    expect(ix.size).toBe(5);
    expect(sorted(ix.findMatches(local([0, 1])))).toBe("1/0=2");
    expect(sorted(ix.findMatches(local([900])))).toBe("1/0=1");
    expect(ix.findMatches(local([100, 101]))).toEqual([]);
    expect(ix.findMatches(local([200, 201]))).toEqual([]);
    expect(ix.workerBlocks()).toEqual([{ workerId: 1n, dpRank: 0, blocks: 5 }]);
  });

  it("stays within the cap over many distinct prefixes and long prompts", () => {
    const ix = new ApproxIndexer({ ttlMs: 120_000, now: () => 0, maxEntries: 4096 });
    for (let p = 0; p < 5_000; p++) {
      const ids = Array.from({ length: 32 }, (_, i) => p * 1000 + i * 7);
      ix.recordRouting(BigInt(p % 4), 0, local(ids));
      expect(ix.size).toBeLessThanOrEqual(4096);
    }
    expect(ix.size).toBeGreaterThan(4096 * 0.8 - 32);
    const last = Array.from({ length: 32 }, (_, i) => 4999 * 1000 + i * 7);
    expect(sorted(ix.findMatches(local(last)))).toBe("3/0=32");
  });

  it("still drops expired entries first, whatever the cap", () => {
    const clock = { t: 0 };
    const ix = new ApproxIndexer({ ttlMs: 10, now: () => clock.t, maxEntries: 100 });
    ix.recordRouting(1n, 0, local([1, 2, 3]));
    clock.t = 10;
    ix.recordRouting(2n, 0, local([4]));
    expect(ix.size).toBe(1);
  });
});
