// Heap held by approximate mode's indexer (--no-router-kv-events) after many distinct prefixes are routed.
// Run: node --expose-gc --import tsx scripts/approx-memory.ts [--prefixes 5000] [--blocks 256] [--max-entries N]
import { parseArgs } from "node:util";
import { computeLocalHashes } from "../packages/kv/src/hash.js";
import { ApproxIndexer } from "../packages/kv/src/indexer/approximate.js";

const { values } = parseArgs({
  options: {
    prefixes: { type: "string", default: "5000" },
    blocks: { type: "string", default: "256" },
    "max-entries": { type: "string" },
  },
});
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const prefixes = Number(values.prefixes);
const blocks = Number(values.blocks);
const BLOCK_SIZE = 16;
gc();
const before = process.memoryUsage().heapUsed;
const maxEntries = values["max-entries"] === undefined ? undefined : Number(values["max-entries"]);
const index = new ApproxIndexer({ ttlMs: 120_000, now: () => 0, ...(maxEntries ? { maxEntries } : {}) });
for (let p = 0; p < prefixes; p++) {
  // Distinct from the first token on: nothing is shared between prefixes.
  const tokens = Array.from({ length: blocks * BLOCK_SIZE }, (_, i) => (p * 100_003 + i) % 150_000);
  index.recordRouting(BigInt(p % 4), 0, computeLocalHashes(tokens, BLOCK_SIZE));
}
gc();
const mb = (process.memoryUsage().heapUsed - before) / 1e6;
console.log(
  `${prefixes} prefixes x ${blocks} blocks on 4 workers: ${index.size} entries held, ${mb.toFixed(0)} MB heap`,
);
