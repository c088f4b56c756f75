import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type KvCacheEvent, type StoredData, storedFromTokens } from "../events.js";
import { computeBlockHashes, computeLocalHashes, computeSeqHashes } from "../hash.js";
import { RadixIndexer } from "./radix.js";
import type { KvIndexer, WorkerMatch } from "./types.js";

const BS = 4;
/** Tokens of a chain of blocks, each block named by a small id. */
const tokensOf = (ids: number[]) => ids.flatMap((id) => [id, id + 1000, id + 2000, id + 3000]);
const local = (ids: number[]) => computeLocalHashes(tokensOf(ids), BS);

let nextId = 0n;
function ev(workerId: bigint, dpRank: number, data: KvCacheEvent["data"]): KvCacheEvent {
  nextId++;
  return { workerId, dpRank, eventId: nextId, data };
}
const store = (w: bigint, ids: number[], opts: { dp?: number; parentIds?: number[] } = {}) => {
  const parentSeqHash =
    opts.parentIds === undefined ? undefined : computeBlockHashes(tokensOf(opts.parentIds), BS).seq.at(-1);
  return ev(
    w,
    opts.dp ?? 0,
    storedFromTokens(tokensOf(ids), BS, parentSeqHash === undefined ? {} : { parentSeqHash }),
  );
};
const seqOf = (ids: number[]) => computeBlockHashes(tokensOf(ids), BS).seq;
const remove = (w: bigint, chain: number[], which: number[], dp = 0) => {
  const seq = seqOf(chain);
  return ev(w, dp, { kind: "removed", seqHashes: BigUint64Array.from(which, (i) => seq[i] as bigint) });
};
const sorted = (m: WorkerMatch[]) =>
  m
    .map((x) => `${x.workerId}/${x.dpRank}=${x.matchedBlocks}`)
    .sort()
    .join(" ");

describe("RadixIndexer", () => {
  it("matches by prefix depth per worker", () => {
    const ix = new RadixIndexer();
    ix.applyEvent(store(1n, [1, 2, 3]));
    ix.applyEvent(store(2n, [1, 2]));
    expect(sorted(ix.findMatches(local([1, 2, 3, 4])))).toBe("1/0=3 2/0=2");
    expect(sorted(ix.findMatches(local([1, 9])))).toBe("1/0=1 2/0=1");
    expect(ix.findMatches(local([9, 1, 2]))).toEqual([]);
    expect(ix.findMatches(new BigUint64Array(0))).toEqual([]);
  });

  it("does not confuse two prefixes that end in the same block", () => {
    const ix = new RadixIndexer();
    ix.applyEvent(store(1n, [1, 7]));
    ix.applyEvent(store(2n, [2, 7]));
    expect(sorted(ix.findMatches(local([1, 7])))).toBe("1/0=2");
    expect(sorted(ix.findMatches(local([2, 7])))).toBe("2/0=2");
    expect(ix.findMatches(local([7]))).toEqual([]);
  });

  it("continues a chain from a parent and requires contiguous holding", () => {
    const ix = new RadixIndexer();
    ix.applyEvent(store(1n, [1, 2]));
    ix.applyEvent(store(1n, [3, 4], { parentIds: [1, 2] }));
    // Worker 2 stores a continuation under worker 1's prefix without holding the prefix itself.
    ix.applyEvent(store(2n, [3], { parentIds: [1, 2] }));
    expect(sorted(ix.findMatches(local([1, 2, 3, 4])))).toBe("1/0=4");
    ix.applyEvent(remove(1n, [1, 2, 3, 4], [1]));
    expect(sorted(ix.findMatches(local([1, 2, 3, 4])))).toBe("1/0=1");
    expect(ix.workerBlocks().find((w) => w.workerId === 1n)?.blocks).toBe(3);
  });

  it("drops a store whose parent nobody holds", () => {
    const ix = new RadixIndexer();
    ix.applyEvent(store(1n, [3], { parentIds: [1, 2] }));
    expect(ix.counters.unknownParent).toBe(1);
    expect(ix.nodeCount).toBe(0);
  });

  it("keeps dp ranks apart and clears one rank", () => {
    const ix = new RadixIndexer();
    ix.applyEvent(store(1n, [1, 2], { dp: 0 }));
    ix.applyEvent(store(1n, [1], { dp: 1 }));
    expect(sorted(ix.findMatches(local([1, 2])))).toBe("1/0=2 1/1=1");
    ix.applyEvent(ev(1n, 0, { kind: "cleared" }));
    expect(sorted(ix.findMatches(local([1, 2])))).toBe("1/1=1");
    expect(ix.nodeCount).toBe(1);
  });

  it("removeWorker drops every rank and prunes the tree; clear empties it", () => {
    const ix = new RadixIndexer();
    ix.applyEvent(store(1n, [1, 2], { dp: 0 }));
    ix.applyEvent(store(1n, [5], { dp: 3 }));
    ix.applyEvent(store(2n, [1]));
    ix.removeWorker(1n);
    expect(sorted(ix.findMatches(local([1, 2])))).toBe("2/0=1");
    expect(ix.nodeCount).toBe(1);
    expect(ix.lastEventId(1n)).toBeUndefined();
    expect(ix.lastEventId(2n)).toBeDefined();
    ix.clear();
    expect(ix.nodeCount).toBe(0);
    expect(ix.workerBlocks()).toEqual([]);
  });

  it("snapshot is JSON-serializable and restores the same answers and watermarks", () => {
    const ix = new RadixIndexer();
    ix.applyEvent(store(0xffffffffffffffffn, [1, 2, 3], { dp: 2 }));
    ix.applyEvent(store(2n, [1, 2]));
    ix.applyEvent(store(2n, [8], { parentIds: [1, 2] }));
    ix.applyEvent(remove(2n, [1, 2], [0]));
    const json = JSON.stringify(ix.snapshot());
    const back = new RadixIndexer();
    back.restore(JSON.parse(json));
    for (const q of [
      [1, 2, 3],
      [1, 2, 8],
      [1, 2],
    ]) {
      expect(sorted(back.findMatches(local(q)))).toBe(sorted(ix.findMatches(local(q))));
    }
    expect(back.lastEventId(2n)).toBe(ix.lastEventId(2n));
    expect(back.lastEventId(0xffffffffffffffffn)).toBe(ix.lastEventId(0xffffffffffffffffn));
    expect(back.workerBlocks()).toEqual(ix.workerBlocks());
    expect(back.snapshot()).toEqual(ix.snapshot());
  });

  it("rejects a malformed snapshot", () => {
    const bad = {
      version: 1 as const,
      workers: [],
      watermarks: [],
      nodes: [{ local: "1", seq: "1", parent: 0, holders: [] }],
    };
    expect(() => new RadixIndexer().restore(bad)).toThrow();
  });
});

/** Brute-force model: per (worker, rank) the set of sequence hashes held; depth = leading hashes held. */
class SetModel implements KvIndexer {
  held = new Map<string, Set<bigint>>();
  applyEvent(e: KvCacheEvent): void {
    const k = `${e.workerId}:${e.dpRank}`;
    const d = e.data;
    if (d.kind === "cleared") {
      this.held.delete(k);
      return;
    }
    if (d.kind === "removed") {
      for (const s of d.seqHashes) this.held.get(k)?.delete(s);
      return;
    }
    if (d.parentSeqHash !== undefined && !this.held.get(k)?.has(d.parentSeqHash)) return;
    const set = this.held.get(k) ?? new Set();
    for (const s of d.seqHashes) set.add(s);
    this.held.set(k, set);
  }
  findMatches(localHashes: BigUint64Array): WorkerMatch[] {
    const seq = computeSeqHashes(localHashes);
    const out: WorkerMatch[] = [];
    for (const [k, set] of this.held) {
      let n = 0;
      while (n < seq.length && set.has(seq[n] as bigint)) n++;
      const [w, dp] = k.split(":");
      if (n > 0) out.push({ workerId: BigInt(w as string), dpRank: Number(dp), matchedBlocks: n });
    }
    return out;
  }
  removeWorker(workerId: bigint): void {
    for (const k of [...this.held.keys()]) if (k.startsWith(`${workerId}:`)) this.held.delete(k);
  }
  clear(): void {
    this.held.clear();
  }
}

describe("RadixIndexer against a brute-force model", () => {
  // Chains drawn from a small tree of block ids so prefixes overlap a lot.
  const chains = [[1], [1, 2], [1, 2, 3], [1, 2, 4], [1, 5], [6, 2], [6, 2, 3], [7]];

  const op = fc.oneof(
    fc.record({
      t: fc.constant("store" as const),
      w: fc.integer({ min: 1, max: 3 }),
      dp: fc.integer({ min: 0, max: 1 }),
      chain: fc.integer({ min: 0, max: chains.length - 1 }),
      split: fc.nat(3),
    }),
    fc.record({
      t: fc.constant("remove" as const),
      w: fc.integer({ min: 1, max: 3 }),
      dp: fc.integer({ min: 0, max: 1 }),
      chain: fc.integer({ min: 0, max: chains.length - 1 }),
      idx: fc.nat(2),
    }),
    fc.record({
      t: fc.constant("clear" as const),
      w: fc.integer({ min: 1, max: 3 }),
      dp: fc.integer({ min: 0, max: 1 }),
    }),
    fc.record({ t: fc.constant("removeWorker" as const), w: fc.integer({ min: 1, max: 3 }) }),
  );

  it("agrees on every query after random operation sequences, and after snapshot/restore", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const ix = new RadixIndexer();
        const model = new SetModel();
        for (const o of ops) {
          const w = BigInt(o.w);
          if (o.t === "removeWorker") {
            ix.removeWorker(w);
            model.removeWorker(w);
            continue;
          }
          let e: KvCacheEvent;
          if (o.t === "clear") {
            e = ev(w, o.dp, { kind: "cleared" });
          } else if (o.t === "remove") {
            const c = chains[o.chain] as number[];
            e = remove(w, c, [Math.min(o.idx, c.length - 1)], o.dp);
          } else {
            // Store the chain's tail under its head, when split cuts it; the head must be held by the worker.
            const c = chains[o.chain] as number[];
            const cut = Math.min(o.split, c.length - 1);
            e = store(w, c.slice(cut), { dp: o.dp, ...(cut > 0 ? { parentIds: c.slice(0, cut) } : {}) });
            const d = e.data as StoredData;
            const k = `${w}:${o.dp}`;
            if (d.parentSeqHash !== undefined && !model.held.get(k)?.has(d.parentSeqHash)) continue;
          }
          ix.applyEvent(e);
          model.applyEvent(e);
        }
        const back = new RadixIndexer();
        back.restore(JSON.parse(JSON.stringify(ix.snapshot())));
        for (const c of chains) {
          const q = local([...c, 99]);
          expect(sorted(ix.findMatches(q))).toBe(sorted(model.findMatches(q)));
          expect(sorted(back.findMatches(q))).toBe(sorted(ix.findMatches(q)));
        }
      }),
      { numRuns: 300 },
    );
  });
});
