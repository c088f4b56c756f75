// runBatch / findMatchesBatch: events and lookups packed in one buffer and answered in one native call must give,
// lookup by lookup, what the radix reference gives when the same events and lookups run one at a time.
import { computeSeqHashes, type KvCacheEvent, RadixIndexer, type WorkerMatch } from "@kvasir/kv";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NativeIndexer } from "./indexer.js";
import { EVENT_HEADER_BYTES, EVENT_KIND, PackedEventWriter } from "./packed-events.js";

const LOCAL_POOL = [0n, 7n, 8n, 2n ** 64n - 1n];
const WORKERS = [1n, 2n, 2n ** 63n + 5n];

type Op =
  | { op: "store"; w: number; seq: number; from: number; to: number }
  | { op: "remove"; w: number; seq: number; picks: number[] }
  | { op: "cleared"; w: number }
  | { op: "query"; seq: number; cut: number };

const opArb = (nSeqs: number): fc.Arbitrary<Op> => {
  const w = fc.nat({ max: WORKERS.length - 1 });
  const seq = fc.nat({ max: nSeqs - 1 });
  return fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        op: fc.constant("store" as const),
        w,
        seq,
        from: fc.oneof(fc.constant(0), fc.nat({ max: 40 })),
        to: fc.nat({ max: 40 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant("remove" as const),
        w,
        seq,
        picks: fc.array(fc.nat({ max: 40 }), { maxLength: 5 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("cleared" as const), w }) },
    {
      weight: 5,
      arbitrary: fc.record({ op: fc.constant("query" as const), seq, cut: fc.nat({ max: 40 }) }),
    },
  );
};

const sorted = (ms: WorkerMatch[]) => ms.map((m) => `${m.workerId}/${m.dpRank}:${m.matchedBlocks}`).sort();

describe("NativeIndexer.runBatch", () => {
  it("answers each packed lookup as the reference does at that point of the stream", () => {
    fc.assert(
      fc.property(
        fc
          .array(fc.array(fc.constantFrom(...LOCAL_POOL), { minLength: 1, maxLength: 30 }), {
            minLength: 1,
            maxLength: 5,
          })
          .chain((seqs) =>
            fc.tuple(fc.constant(seqs), fc.array(opArb(seqs.length), { minLength: 1, maxLength: 80 })),
          ),
        fc.integer({ min: 1, max: 3 }),
        ([seqs, ops], threads) => {
          const chains = seqs.map((l) => {
            const local = BigUint64Array.from(l);
            return { local, seq: computeSeqHashes(local) };
          });
          const ref = new RadixIndexer();
          const nat = NativeIndexer.create({ threads, jumpSize: 4 });
          const writer = new PackedEventWriter();
          const want: string[][] = [];
          let eventId = 0n;
          for (const o of ops) {
            eventId++;
            let ev: KvCacheEvent | undefined;
            const c = chains[o.op === "cleared" ? 0 : o.seq] as {
              local: BigUint64Array;
              seq: BigUint64Array;
            };
            if (o.op === "store") {
              const from = o.from % c.local.length;
              const to = from + 1 + (o.to % (c.local.length - from));
              ev = {
                workerId: WORKERS[o.w] as bigint,
                dpRank: 0,
                eventId,
                data: {
                  kind: "stored",
                  localHashes: c.local.slice(from, to),
                  seqHashes: c.seq.slice(from, to),
                  tokenIds: new Uint32Array(0),
                  blockSize: 16,
                  loraName: "",
                  ...(from > 0 ? { parentSeqHash: c.seq[from - 1] as bigint } : {}),
                },
              };
            } else if (o.op === "remove") {
              const hashes = BigUint64Array.from(o.picks.map((p) => c.seq[p % c.seq.length] as bigint));
              ev = {
                workerId: WORKERS[o.w] as bigint,
                dpRank: 0,
                eventId,
                data: { kind: "removed", seqHashes: hashes },
              };
            } else if (o.op === "cleared") {
              ev = { workerId: WORKERS[o.w] as bigint, dpRank: 0, eventId, data: { kind: "cleared" } };
            } else {
              const q = c.local.slice(0, o.cut % (c.local.length + 1));
              want.push(sorted(ref.findMatches(q)));
              writer.pushLookup(q);
            }
            if (ev !== undefined) {
              ref.applyEvent(ev);
              writer.push(ev);
            }
          }
          const lookups = writer.lookupCount;
          const r = nat.runBatch(writer.take());
          expect(r.counts.length).toBe(lookups);
          let at = 0;
          const got = Array.from(r.counts, (n) => {
            const ms: WorkerMatch[] = [];
            for (const end = at + n; at < end; at++) {
              ms.push({
                workerId: r.workerIds[at] as bigint,
                dpRank: r.dpRanks[at] as number,
                matchedBlocks: r.depths[at] as number,
              });
            }
            return sorted(ms);
          });
          expect(got).toEqual(want);
          // The events stayed applied: a later single lookup and a batch of them agree with the reference.
          const all = chains.map((ch) => ch.local);
          expect(nat.findMatchesBatch(all).map(sorted)).toEqual(all.map((q) => sorted(ref.findMatches(q))));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("keeps count of a block held by more (worker, dp rank) pairs than 16 bits hold", () => {
    const local = BigUint64Array.of(11n, 12n);
    const seq = computeSeqHashes(local);
    const n = 70_000;
    const w = new PackedEventWriter();
    for (let i = 0; i < n; i++) {
      w.push({
        workerId: BigInt(i >> 1),
        dpRank: i & 1,
        eventId: 1n,
        data: {
          kind: "stored",
          localHashes: local,
          seqHashes: seq,
          tokenIds: new Uint32Array(0),
          blockSize: 16,
          loraName: "",
        },
      });
    }
    w.pushLookup(local);
    // Every pair but the last lets go of the second block.
    for (let i = 0; i < n - 1; i++) {
      w.push({
        workerId: BigInt(i >> 1),
        dpRank: i & 1,
        eventId: 2n,
        data: { kind: "removed", seqHashes: seq.slice(1) },
      });
    }
    w.pushLookup(local);
    const nat = NativeIndexer.create({ threads: 1 });
    const r = nat.runBatch(w.take());
    expect(Array.from(r.counts)).toEqual([n, n]);
    const second = Array.from(r.depths.subarray(n));
    expect(second.filter((d) => d === 2)).toHaveLength(1);
    expect(second.filter((d) => d === 1)).toHaveLength(n - 1);
    expect(nat.memoryStats()).toMatchObject({ blocks: 2, heldBlocks: n + 1 });
    nat.removeWorker(BigInt((n - 1) >> 1));
    expect(nat.memoryStats()).toMatchObject({ blocks: 1, heldBlocks: n - 2 });
  });

  it("sees events given before the batch, and refuses malformed buffers without applying anything", () => {
    const nat = NativeIndexer.create();
    const local = BigUint64Array.of(1n, 2n, 3n);
    nat.applyEvent({
      workerId: 4n,
      dpRank: 1,
      eventId: 1n,
      data: {
        kind: "stored",
        localHashes: local,
        seqHashes: computeSeqHashes(local),
        tokenIds: new Uint32Array(0),
        blockSize: 16,
        loraName: "",
      },
    });
    expect(nat.findMatchesBatch([local, local.slice(0, 1), BigUint64Array.of(9n)])).toEqual([
      [{ workerId: 4n, dpRank: 1, matchedBlocks: 3 }],
      [{ workerId: 4n, dpRank: 1, matchedBlocks: 1 }],
      [],
    ]);
    const w = new PackedEventWriter();
    w.push({ workerId: 5n, dpRank: 0, eventId: 2n, data: { kind: "cleared" } });
    w.pushLookup(local);
    const bytes = w.take();
    expect(() => nat.runBatch(bytes.slice(0, bytes.length - 8))).toThrow(/truncated event body/);
    const bad = new Uint8Array(EVENT_HEADER_BYTES);
    bad[0] = 9;
    expect(() => nat.runBatch(bad)).toThrow(/unknown event kind/);
    // applyEvents takes events only.
    const lookupOnly = new PackedEventWriter();
    lookupOnly.pushLookup(local);
    expect(() => nat.applyPacked(lookupOnly.take())).toThrow(/unknown event kind 4/);
    expect(nat.lastEventId(5n)).toBeUndefined();
    // A buffer that does not start on an 8-byte boundary is read as well.
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    expect(Array.from(nat.runBatch(shifted).depths)).toEqual([3]);
    expect(EVENT_KIND.lookup).toBe(4);
  });
});
