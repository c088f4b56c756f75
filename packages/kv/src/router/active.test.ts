import { describe, expect, it } from "vitest";
import { ActiveSequences, parseActiveSequenceUpdate } from "./active.js";

const add = (s: ActiveSequences, requestId: string, workerId = 1n, dpRank = 0, overlapBlocks = 0) =>
  s.addRequest({ requestId, workerId, dpRank, promptTokens: 100, overlapBlocks, blockSize: 16 });

describe("ActiveSequences", () => {
  it("tracks prefill tokens until prefill completes and blocks until free", () => {
    const s = new ActiveSequences();
    add(s, "a", 1n, 0, 2);
    expect(s.load(1n, 0)).toEqual({
      activePrefillTokens: 100 - 32,
      activeDecodeBlocks: 7,
      activeRequests: 1,
    });
    add(s, "b");
    expect(s.load(1n, 0).activePrefillTokens).toBe(168);
    expect(s.markPrefillComplete("a")?.type).toBe("prefill_complete");
    expect(s.markPrefillComplete("a")).toBeUndefined();
    expect(s.load(1n, 0)).toEqual({ activePrefillTokens: 100, activeDecodeBlocks: 14, activeRequests: 2 });
    s.free("a");
    s.free("b"); // still in prefill: its prefill tokens go too
    expect(s.load(1n, 0)).toEqual({ activePrefillTokens: 0, activeDecodeBlocks: 0, activeRequests: 0 });
    expect(s.allLoads()).toEqual([]);
    expect(s.free("b")).toBeUndefined();
  });

  it("keeps (worker, dp rank) apart", () => {
    const s = new ActiveSequences();
    add(s, "a", 1n, 0);
    add(s, "b", 1n, 1);
    add(s, "c", 2n, 0);
    expect(
      s
        .allLoads()
        .map((l) => `${l.workerId}/${l.dpRank}:${l.load.activeRequests}`)
        .sort(),
    ).toEqual(["1/0:1", "1/1:1", "2/0:1"]);
    expect(s.removeWorker(1n).sort()).toEqual(["a", "b"]);
    expect(s.size).toBe(1);
  });

  it("replicas converge by applying each other's records, idempotently, across JSON", () => {
    const r1 = new ActiveSequences();
    const r2 = new ActiveSequences();
    const wire = (u: unknown) => parseActiveSequenceUpdate(JSON.parse(JSON.stringify(u)));
    const records = [
      add(r1, "x", 0xffffffffffffffffn, 2, 1),
      add(r1, "y", 5n),
      r1.markPrefillComplete("x"),
      r1.free("y"),
    ];
    for (const u of records) {
      const parsed = wire(u);
      expect(parsed).toEqual(u);
      if (parsed !== undefined) r2.apply(parsed);
    }
    for (const u of records) if (u !== undefined) expect(r2.apply(u)).toBe(false);
    expect(r2.allLoads()).toEqual(r1.allLoads());
  });

  it("sweeps requests whose free was lost", () => {
    const clock = { t: 0 };
    const s = new ActiveSequences({ now: () => clock.t });
    add(s, "old");
    clock.t = 1000;
    add(s, "new");
    expect(s.sweepStale(500)).toEqual(["old"]);
    expect(s.size).toBe(1);
  });

  it("rejects malformed records", () => {
    for (const bad of [
      null,
      "add",
      { type: "add", requestId: "a", workerId: "-1", dpRank: 0, prefillTokens: 0, blocks: 0 },
      {
        type: "add",
        requestId: "a",
        workerId: "18446744073709551616",
        dpRank: 0,
        prefillTokens: 0,
        blocks: 0,
      },
      { type: "add", requestId: "a", workerId: "1", dpRank: 0.5, prefillTokens: 0, blocks: 0 },
      { type: "free" },
      { type: "evict", requestId: "a" },
    ]) {
      expect(parseActiveSequenceUpdate(bad)).toBeUndefined();
    }
  });
});
