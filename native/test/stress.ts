// Concurrency stress for the native index: the write pool applies whole-chain stores, removals and clears
// while two worker_threads read the same index. Each event is applied atomically, so a reader may only ever
// see, per worker, a depth that some whole chain explains (its common prefix with the query), and the
// permanent worker always at full depth. Used by test/concurrency.test.ts and scripts/asan.sh.
import { Worker } from "node:worker_threads";
import type { KvCacheEvent } from "@kvasir/kv";
import { requireAddon } from "../src/addon.js";
import { hashBlocks } from "../src/hash.js";
import { NativeIndexer } from "../src/indexer.js";
import { packEvents } from "../src/packed-events.js";

export interface StressResult {
  events: number;
  lookups: number;
  violations: number;
  firstViolation: string | undefined;
}

const BLOCK = 4;
const CHAINS = 12;
const PERMANENT = 1000n;

function commonPrefix(a: BigUint64Array, b: BigUint64Array): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

export async function runStress(seconds: number, addonPath: string): Promise<StressResult> {
  requireAddon();
  // Chains share prefixes of different lengths and repeat token blocks, so chunk hashes collide.
  const base = Uint32Array.from({ length: 240 * BLOCK }, (_, i) => (i * 2654435761) % 7);
  const chains = Array.from({ length: CHAINS }, (_, c) => {
    const len = 20 + ((c * 37) % 220);
    const tokens = base.slice(0, len * BLOCK);
    tokens[(c * 13) % (len * BLOCK)] = 100 + c;
    return hashBlocks(tokens, BLOCK);
  });
  const allowed = chains.map((q) => chains.map((c) => commonPrefix(q.seq, c.seq)).filter((d) => d > 0));
  const index = NativeIndexer.create({ threads: 2, jumpSize: 8 });
  let eventId = 0n;
  const stored = (workerId: bigint, dpRank: number, c: { local: BigUint64Array; seq: BigUint64Array }) =>
    ({
      workerId,
      dpRank,
      eventId: ++eventId,
      data: {
        kind: "stored",
        localHashes: c.local,
        seqHashes: c.seq,
        tokenIds: new Uint32Array(0),
        blockSize: BLOCK,
        loraName: "",
      },
    }) satisfies KvCacheEvent;
  index.applyPacked(packEvents(chains.map((c) => stored(PERMANENT, 0, c))));
  index.flush();

  const readers = [1, 2].map(
    (seed) =>
      new Promise<{ lookups: number; violations: number; first: string | undefined }>((resolve, reject) => {
        const w = new Worker(new URL("./fixtures/stress-reader.mjs", import.meta.url), {
          workerData: {
            addonPath,
            indexId: index.id,
            chains: chains.map((c) => ({
              local: Array.from(c.local, String),
              seq: Array.from(c.seq, String),
            })),
            allowed,
            permanent: PERMANENT.toString(),
            seconds,
            seed,
          },
        });
        w.once("message", resolve);
        w.once("error", reject);
      }),
  );

  // Each flapping worker holds at most one whole chain at a time: store it, then remove or clear it.
  const holding = new Map<bigint, number>();
  let events = 0;
  let tick = 0;
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const batch: KvCacheEvent[] = [];
    for (let k = 0; k < 64; k++) {
      tick++;
      const w = BigInt(1 + (tick % 16));
      const held = holding.get(w);
      if (held === undefined) {
        const c = (tick * 7) % CHAINS;
        batch.push(stored(w, 0, chains[c] as { local: BigUint64Array; seq: BigUint64Array }));
        holding.set(w, c);
      } else if (tick % 5 === 0) {
        batch.push({ workerId: w, dpRank: 0, eventId: ++eventId, data: { kind: "cleared" } });
        holding.delete(w);
      } else {
        const seqHashes = (chains[held] as { seq: BigUint64Array }).seq;
        batch.push({ workerId: w, dpRank: 0, eventId: ++eventId, data: { kind: "removed", seqHashes } });
        holding.delete(w);
      }
    }
    events += index.applyPacked(packEvents(batch));
    if (tick % 4096 === 0) {
      index.snapshot();
      index.memoryStats();
    }
    // Let the pool keep up and the readers' messages through.
    if (tick % 1024 === 0) {
      index.flush();
      await new Promise((r) => setImmediate(r));
    }
  }
  index.flush();
  const results = await Promise.all(readers);
  return {
    events,
    lookups: results.reduce((s, r) => s + r.lookups, 0),
    violations: results.reduce((s, r) => s + r.violations, 0),
    firstViolation: results.find((r) => r.first !== undefined)?.first,
  };
}
