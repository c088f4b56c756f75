// Differential tests: random event streams applied to the TypeScript radix reference and to the native
// positional index must give identical findMatches results, through collisions, removals, clears and restores.
import { computeSeqHashes, type KvCacheEvent, nextSeqHash, RadixIndexer, type WorkerMatch } from "@kvasir/kv";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NativeIndexer } from "./indexer.js";
import { removedAt, storedRange } from "./test-events.js";

// A tiny pool of local hashes makes chunk-hash collisions (same local hash at one position under different
// prefixes) common. 0 and 2^64-1 check the edges of the u64 range.
const LOCAL_POOL = [0n, 7n, 8n, 2n ** 64n - 1n];
const WORKERS = [1n, 2n, 3n, 2n ** 63n + 5n];

type Op =
  | { op: "store"; w: number; dp: number; seq: number; from: number; to: number; badParent: boolean }
  | { op: "remove"; w: number; dp: number; seq: number; picks: number[]; junk: boolean }
  | { op: "cleared"; w: number; dp: number }
  | { op: "removeWorker"; w: number }
  | { op: "clear" }
  | { op: "restore" }
  | { op: "query"; seq: number; cut: number; tail: bigint[]; withSeq: boolean };

// Enough workers that a block's holder slots outgrow the three kept inside its table entry.
const MANY_WORKERS = Array.from({ length: 12 }, (_, i) => BigInt(i * 1000 + 1));

const opArb = (nSeqs: number, nWorkers = WORKERS.length): fc.Arbitrary<Op> => {
  const w = fc.nat({ max: nWorkers - 1 });
  const dp = fc.nat({ max: 1 });
  const seq = fc.nat({ max: nSeqs - 1 });
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant("store" as const),
        w,
        dp,
        seq,
        // Half the stores start at the root, so long chains (and holes after removals) are common.
        from: fc.oneof(fc.constant(0), fc.nat({ max: 60 })),
        to: fc.oneof(fc.constant(60), fc.nat({ max: 60 })),
        badParent: fc.nat({ max: 9 }).map((n) => n === 0),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant("remove" as const),
        w,
        dp,
        seq,
        picks: fc.array(fc.nat({ max: 60 }), { maxLength: 6 }),
        junk: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("cleared" as const), w, dp }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("removeWorker" as const), w }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("clear" as const) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("restore" as const) }) },
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant("query" as const),
        seq,
        cut: fc.nat({ max: 60 }),
        tail: fc.array(fc.constantFrom(...LOCAL_POOL), { maxLength: 4 }),
        withSeq: fc.boolean(),
      }),
    },
  );
};

function sorted(ms: WorkerMatch[]): string[] {
  return ms.map((m) => `${m.workerId}/${m.dpRank}:${m.matchedBlocks}`).sort();
}

function workerRows(rows: { workerId: bigint; dpRank: number; blocks: number }[]): string[] {
  return rows.map((r) => `${r.workerId}/${r.dpRank}:${r.blocks}`).sort();
}

function run(seqs: bigint[][], ops: Op[], jumpSize: number, threads: number, workers = WORKERS): void {
  let ref = new RadixIndexer();
  let nat = NativeIndexer.create({ jumpSize, threads });
  const chains = seqs.map((locals) => {
    const local = BigUint64Array.from(locals);
    return { local, seq: computeSeqHashes(local) };
  });
  let eventId = 0n;
  // With several write threads, events of different workers apply in either order, and a Stored event whose
  // parent only another worker holds resolves differently depending on it; the reference applies one total
  // order, so multi-threaded runs wait for each event.
  const apply = (ev: KvCacheEvent) => {
    ref.applyEvent(ev);
    nat.applyEvent(ev);
    if (threads > 1) nat.flush();
  };
  for (const o of ops) {
    eventId++;
    switch (o.op) {
      case "store": {
        const c = chains[o.seq] as { local: BigUint64Array; seq: BigUint64Array };
        const from = o.from % c.local.length;
        const to = o.to >= 60 ? c.local.length : from + 1 + (o.to % (c.local.length - from));
        const parentSeqHash = o.badParent ? 0xdeadbeefn : from > 0 ? c.seq[from - 1] : undefined;
        apply({
          workerId: workers[o.w] as bigint,
          dpRank: o.dp,
          eventId,
          data: {
            kind: "stored",
            localHashes: c.local.slice(from, to),
            seqHashes: c.seq.slice(from, to),
            tokenIds: new Uint32Array(0),
            blockSize: 16,
            loraName: "",
            ...(parentSeqHash !== undefined ? { parentSeqHash } : {}),
          },
        });
        break;
      }
      case "remove": {
        const c = chains[o.seq] as { local: BigUint64Array; seq: BigUint64Array };
        const hashes = o.picks.map((p) => c.seq[p % c.seq.length] as bigint);
        if (o.junk) hashes.push(123456789n);
        apply({
          workerId: workers[o.w] as bigint,
          dpRank: o.dp,
          eventId,
          data: { kind: "removed", seqHashes: BigUint64Array.from(hashes) },
        });
        break;
      }
      case "cleared":
        apply({ workerId: workers[o.w] as bigint, dpRank: o.dp, eventId, data: { kind: "cleared" } });
        break;
      case "removeWorker":
        ref.removeWorker(workers[o.w] as bigint);
        nat.removeWorker(workers[o.w] as bigint);
        break;
      case "clear":
        ref.clear();
        nat.clear();
        break;
      case "restore": {
        const refSnap = ref.snapshot();
        ref = new RadixIndexer();
        ref.restore(refSnap);
        const natSnap = nat.snapshot();
        nat = NativeIndexer.create({ jumpSize, threads });
        nat.restore(natSnap);
        break;
      }
      case "query": {
        const c = chains[o.seq] as { local: BigUint64Array; seq: BigUint64Array };
        const q = BigUint64Array.from([...c.local.slice(0, o.cut % (c.local.length + 1)), ...o.tail]);
        const want = sorted(ref.findMatches(q));
        expect(sorted(nat.findMatches(q))).toEqual(want);
        if (o.withSeq) expect(sorted(nat.findMatches(q, computeSeqHashes(q)))).toEqual(want);
        break;
      }
    }
  }
  expect(workerRows(nat.workerBlocks())).toEqual(workerRows(ref.workerBlocks()));
  for (const w of workers) expect(nat.lastEventId(w)).toBe(ref.lastEventId(w));
  // The same blocks are live: pruning keeps exactly the held blocks and their ancestors.
  const stats = nat.memoryStats();
  expect(stats.blocks).toBe(ref.nodeCount);
  expect(stats.heldBlocks).toBe(ref.workerBlocks().reduce((a, r) => a + r.blocks, 0));
  // Every chain, queried in full, agrees at the end too.
  for (const c of chains) expect(sorted(nat.findMatches(c.local))).toEqual(sorted(ref.findMatches(c.local)));
}

const seqsArb = (maxLen: number) =>
  fc.array(fc.array(fc.constantFrom(...LOCAL_POOL), { minLength: 1, maxLength: maxLen }), {
    minLength: 1,
    maxLength: 6,
  });

describe("NativeIndexer against the radix reference", () => {
  it("agrees on random event streams (short chains, small jumps)", () => {
    fc.assert(
      fc.property(
        seqsArb(24).chain((seqs) =>
          fc.tuple(
            fc.constant(seqs),
            fc.array(opArb(seqs.length), { minLength: 1, maxLength: 60 }),
            fc.integer({ min: 1, max: 6 }),
            fc.integer({ min: 1, max: 3 }),
          ),
        ),
        ([seqs, ops, jump, threads]) => run(seqs, ops, jump, threads),
      ),
      { numRuns: 250 },
    );
  });

  it("agrees on long chains with the default jump size", () => {
    fc.assert(
      fc.property(
        seqsArb(200).chain((seqs) =>
          fc.tuple(fc.constant(seqs), fc.array(opArb(seqs.length), { minLength: 1, maxLength: 40 })),
        ),
        ([seqs, ops]) => run(seqs, ops, 64, 2),
      ),
      { numRuns: 60 },
    );
  });

  it("agrees when many workers hold the same blocks", () => {
    fc.assert(
      fc.property(
        seqsArb(30).chain((seqs) =>
          fc.tuple(
            fc.constant(seqs),
            fc.array(opArb(seqs.length, MANY_WORKERS.length), { minLength: 1, maxLength: 120 }),
            fc.integer({ min: 1, max: 4 }),
          ),
        ),
        ([seqs, ops, jump]) => run(seqs, ops, jump, 1, MANY_WORKERS),
      ),
      { numRuns: 80 },
    );
  });

  it("finds a worker's first missing block behind a jump, as holes open and close", () => {
    const local = BigUint64Array.from({ length: 10 }, (_, i) => BigInt(i + 1));
    const seq = computeSeqHashes(local);
    const nat = NativeIndexer.create({ jumpSize: 4, threads: 1 });
    const ref = new RadixIndexer();
    let eventId = 0n;
    const stored = (workerId: bigint, from: number, to: number) =>
      storedRange({ local, seq }, workerId, ++eventId, from, to);
    const removed = (workerId: bigint, ...at: number[]) => removedAt({ seq }, workerId, ++eventId, ...at);
    const depths = (): string[] => {
      const want = sorted(ref.findMatches(local));
      expect(sorted(nat.findMatches(local))).toEqual(want);
      return want;
    };
    for (const ev of [stored(1n, 0, 10), stored(2n, 0, 10)]) {
      ref.applyEvent(ev);
      nat.applyEvent(ev);
    }
    expect(depths()).toEqual(["1/0:10", "2/0:10"]);
    // Worker 1 loses block 2 (its blocks 3..9 stay: a hole), then block 5; worker 2 loses its tail.
    for (const ev of [removed(1n, 2), removed(1n, 5), removed(2n, 9, 8)]) {
      ref.applyEvent(ev);
      nat.applyEvent(ev);
    }
    expect(depths()).toEqual(["1/0:2", "2/0:8"]);
    // Storing block 2 again closes the first hole; block 5 is still missing.
    for (const ev of [stored(1n, 2, 3)]) {
      ref.applyEvent(ev);
      nat.applyEvent(ev);
    }
    expect(depths()).toEqual(["1/0:5", "2/0:8"]);
    for (const ev of [stored(1n, 5, 6), stored(2n, 8, 10)]) {
      ref.applyEvent(ev);
      nat.applyEvent(ev);
    }
    expect(depths()).toEqual(["1/0:10", "2/0:10"]);
    expect(nat.memoryStats().blocks).toBe(10);
  });

  it("counts stored events whose parent is unknown and ignores them", () => {
    const nat = NativeIndexer.create();
    nat.applyEvent({
      workerId: 1n,
      dpRank: 0,
      eventId: 1n,
      data: {
        kind: "stored",
        parentSeqHash: 99n,
        localHashes: BigUint64Array.of(5n),
        seqHashes: BigUint64Array.of(nextSeqHash(99n, 5n)),
        tokenIds: new Uint32Array(0),
        blockSize: 16,
        loraName: "",
      },
    });
    expect(nat.counters().unknownParent).toBe(1);
    expect(nat.memoryStats().blocks).toBe(0);
  });

  it("rejects malformed packed buffers and snapshots without applying anything", () => {
    const nat = NativeIndexer.create();
    expect(() => nat.applyPacked(new Uint8Array(39))).toThrow(/truncated event header/);
    const bad = new Uint8Array(40);
    bad[0] = 9;
    expect(() => nat.applyPacked(bad)).toThrow(/unknown event kind/);
    expect(() => nat.restore(new Uint8Array([1, 2, 3, 4]))).toThrow(/bad index snapshot/);
    expect(nat.memoryStats().blocks).toBe(0);
  });
});
