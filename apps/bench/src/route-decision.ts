// `pnpm bench:route-decision`: how long the KV router takes to pick a worker for an 8K-token prompt, in process,
// with 64 workers and an index holding about 1M (worker, block) entries. The timed path is the router's per-request
// work after tokenization: local block hashes, findMatches, the cost of every worker, and the choice.
import { PerformanceObserver } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { formatTable, type Summary, summarize, writeBenchResult } from "@kvasir/bench";
import {
  ActiveSequences,
  computeLocalHashes,
  DEFAULT_KV_BLOCK_SIZE,
  type KvIndexer,
  KvSelector,
  RadixIndexer,
  type StoredData,
  storedFromTokens,
  type WorkerCandidate,
} from "@kvasir/kv";
import { hashBlocks, loadNativeIndexer, type NativeIndexer } from "@kvasir/native";
import type { FlagSpec } from "@kvasir/runtime";
import { benchFlags } from "./flags.js";

const flags: FlagSpec[] = [
  { name: "workers", type: "number", default: 64, help: "Workers in the index" },
  {
    name: "index-blocks",
    type: "number",
    default: 1_000_000,
    help: "(worker, block) entries to load into the index",
  },
  { name: "prompt-tokens", type: "number", default: 8192, help: "Tokens per request" },
  {
    name: "kv-cache-block-size",
    type: "number",
    default: DEFAULT_KV_BLOCK_SIZE,
    help: "Tokens per KV block",
  },
  {
    name: "families",
    type: "number",
    default: 16,
    help: "Shared prefixes (system prompts, documents) in the index",
  },
  {
    name: "prefix-fraction",
    type: "number",
    default: 0.25,
    help: "Share of each prompt that is its family's prefix",
  },
  { name: "requests", type: "number", default: 3000, help: "Timed requests per indexer" },
  { name: "warmup", type: "number", default: 300, help: "Untimed requests before timing" },
  { name: "out", type: "string", default: "bench-results", help: "Directory of route-decision.json" },
];

/** Deterministic token ids for stream `seed`: a different seed gives different tokens. */
function tokens(seed: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  let s = (Math.imul(seed + 1, 0x9e3779b1) ^ 0x2545f491) | 0;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) % 150_000;
  }
  return out;
}

function concat(a: Uint32Array, b: Uint32Array): Uint32Array {
  const out = new Uint32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

interface Workload {
  workerIds: bigint[];
  /** Every sequence stored in the index, by worker. */
  stored: Uint32Array[][];
  familyPrefixes: Uint32Array[];
  entries: number;
  distinctBlocks: number;
}

/**
 * Fills the indexers the way engines would: each worker caches a few families' shared prefixes and, under each,
 * whole prompts with their own tails, until the workers together hold `index-blocks` entries.
 */
function buildIndex(indexers: KvIndexer[], v: Record<string, number>): Workload {
  const bs = v["kv-cache-block-size"] as number;
  const promptTokens = v["prompt-tokens"] as number;
  const workers = v.workers as number;
  const families = v.families as number;
  const prefixTokens = Math.floor((promptTokens * (v["prefix-fraction"] as number)) / bs) * bs;
  const tailTokens = promptTokens - prefixTokens;
  const familyPrefixes = Array.from({ length: families }, (_, f) => tokens(1_000_000 + f, prefixTokens));
  const familyStored = familyPrefixes.map((p) => storedFromTokens(p, bs));
  const perWorker = Math.ceil((v["index-blocks"] as number) / workers);
  const familiesPerWorker = Math.min(4, families);
  const workerIds = Array.from({ length: workers }, (_, w) => 0x1000_0000_0000n + BigInt(w));
  const stored: Uint32Array[][] = [];
  const eventIds = new Map<bigint, bigint>();
  const apply = (workerId: bigint, data: StoredData) => {
    const eventId = (eventIds.get(workerId) ?? 0n) + 1n;
    eventIds.set(workerId, eventId);
    for (const indexer of indexers) indexer.applyEvent({ workerId, dpRank: 0, eventId, data });
  };
  const familyOf = (w: number, k: number) => (w + k * 5) % families;
  let seed = 0;
  let entries = 0;
  let distinct = families * (prefixTokens / bs);
  for (let w = 0; w < workers; w++) {
    const workerId = workerIds[w] as bigint;
    const mine: Uint32Array[] = [];
    let held = 0;
    for (let k = 0; k < familiesPerWorker; k++) {
      apply(workerId, familyStored[familyOf(w, k)] as StoredData);
      held += prefixTokens / bs;
    }
    for (let n = 0; held < perWorker; n++) {
      const f = familyOf(w, n % familiesPerWorker);
      const tail = tokens(seed++, tailTokens);
      const parent = (familyStored[f] as StoredData).seqHashes.at(-1);
      apply(workerId, storedFromTokens(tail, bs, parent === undefined ? {} : { parentSeqHash: parent }));
      held += tailTokens / bs;
      distinct += tailTokens / bs;
      mine.push(concat(familyPrefixes[f] as Uint32Array, tail));
    }
    entries += held;
    stored.push(mine);
  }
  return { workerIds, stored, familyPrefixes, entries, distinctBlocks: distinct };
}

type Kind = "stored" | "family" | "novel";
const KINDS: readonly Kind[] = ["stored", "family", "novel"];

/** Queries: a prompt some worker holds whole, one sharing only a family prefix, and one nobody has seen. */
function queries(work: Workload, count: number, promptTokens: number): { kind: Kind; tokens: Uint32Array }[] {
  const out: { kind: Kind; tokens: Uint32Array }[] = [];
  for (let i = 0; i < count; i++) {
    const kind = KINDS[i % KINDS.length] as Kind;
    if (kind === "stored") {
      const mine = work.stored[i % work.stored.length] as Uint32Array[];
      out.push({ kind, tokens: mine[(i * 7) % mine.length] as Uint32Array });
    } else if (kind === "family") {
      const prefix = work.familyPrefixes[i % work.familyPrefixes.length] as Uint32Array;
      out.push({ kind, tokens: concat(prefix, tokens(50_000_000 + i, promptTokens - prefix.length)) });
    } else {
      out.push({ kind, tokens: tokens(90_000_000 + i, promptTokens) });
    }
  }
  return out;
}

/** Local block hashes of a prompt: the TypeScript XXH3, or the native addon's. */
type Hasher = (tokens: Uint32Array, blockSize: number) => BigUint64Array;

interface Candidate {
  name: string;
  indexer: KvIndexer;
  hash: Hasher;
  /** Waits until every event given to the indexer is applied (the native one applies on its own threads). */
  settle(): void;
}

/** The reference radix indexer, and the native positional one when its addon loads. */
function candidates(): Candidate[] {
  const list: Candidate[] = [
    {
      name: "radix (TS) + TS hashing",
      indexer: new RadixIndexer(),
      hash: computeLocalHashes,
      settle: () => {},
    },
  ];
  const native = loadNativeIndexer();
  if (native.ok) {
    const indexer: NativeIndexer = native.create();
    list.push({
      name: "native + native hashing",
      indexer,
      hash: (t, blockSize) => hashBlocks(t, blockSize).local,
      settle: () => indexer.flush(),
    });
  } else {
    process.stderr.write(`bench:route-decision: native indexer unavailable (${native.reason})\n`);
  }
  return list;
}

interface IndexerResult {
  indexer: string;
  all: Summary;
  byKind: Record<Kind, Summary>;
  /** Mean matched blocks of the chosen worker, per kind: shows the choice followed the cache. */
  meanOverlapBlocks: Record<Kind, number>;
  hashingMs: Summary;
  /** Timed requests during which the garbage collector paused the thread. */
  samplesDuringGc: number;
  /** The same latencies without those requests: the selection code's own cost, apart from GC pauses. */
  withoutGc: Summary;
}

/** [start, end] of each timed request, to match against GC pauses afterwards. */
type Window = [number, number];

/** Times selection for every query; requests stay active for a while so loads are not all zero. */
function timeSelection(
  c: Candidate,
  work: Workload,
  qs: readonly { kind: Kind; tokens: Uint32Array }[],
  warmup: number,
  blockSize: number,
): { result: Omit<IndexerResult, "samplesDuringGc" | "withoutGc">; windows: Window[] } {
  const selector = new KvSelector({ indexer: c.indexer, rng: () => 0.5 });
  const active = new ActiveSequences();
  const live: string[] = [];
  const samples: Record<Kind, number[]> = { stored: [], family: [], novel: [] };
  const overlap: Record<Kind, number[]> = { stored: [], family: [], novel: [] };
  const hashing: number[] = [];
  const windows: Window[] = [];
  qs.forEach((q, i) => {
    const t0 = performance.now();
    const localHashes = c.hash(q.tokens, blockSize);
    const t1 = performance.now();
    const candidates: WorkerCandidate[] = work.workerIds.map((workerId) => ({
      workerId,
      dpRank: 0,
      load: active.load(workerId, 0),
    }));
    const choice = selector.select(candidates, { localHashes, promptTokens: q.tokens.length, blockSize });
    const t2 = performance.now();
    if (!choice) throw new Error("no worker selected");
    if (i >= warmup) {
      samples[q.kind].push(t2 - t0);
      hashing.push(t1 - t0);
      overlap[q.kind].push(choice.overlapBlocks);
      windows.push([t0, t2]);
    }
    const requestId = `r${i}`;
    active.addRequest({ requestId, ...choice, promptTokens: q.tokens.length, blockSize });
    // Treat each as decoding at once: the load is then held blocks, and prefill backlog does not pile up forever.
    active.markPrefillComplete(requestId);
    live.push(requestId);
    if (live.length > 4 * work.workerIds.length) active.free(live.shift() as string);
  });
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
  const result = {
    indexer: c.name,
    all: summarize([...samples.stored, ...samples.family, ...samples.novel]),
    byKind: {
      stored: summarize(samples.stored),
      family: summarize(samples.family),
      novel: summarize(samples.novel),
    },
    meanOverlapBlocks: {
      stored: mean(overlap.stored),
      family: mean(overlap.family),
      novel: mean(overlap.novel),
    },
    hashingMs: summarize(hashing),
  };
  return { result, windows };
}

/** Splits timed windows by whether a GC pause overlapped them. */
function gcSplit(windows: readonly Window[], pauses: readonly Window[]): { hit: number; clean: number[] } {
  const clean: number[] = [];
  let hit = 0;
  for (const [start, end] of windows) {
    if (pauses.some(([ps, pe]) => ps < end && pe > start)) hit++;
    else clean.push(end - start);
  }
  return { hit, clean };
}

async function main(): Promise<void> {
  const parsed = benchFlags("bench:route-decision", "Time KV worker selection in process.", flags);
  const values = parsed as Record<string, number>;
  const blockSize = values["kv-cache-block-size"] as number;
  const indexers = candidates();
  const t0 = performance.now();
  const work = buildIndex(
    indexers.map((c) => c.indexer),
    values,
  );
  for (const c of indexers) c.settle();
  process.stderr.write(
    `bench:route-decision: ${work.entries} entries (${work.distinctBlocks} distinct blocks) over ` +
      `${work.workerIds.length} workers loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  const qs = queries(
    work,
    (values.requests as number) + (values.warmup as number),
    values["prompt-tokens"] as number,
  );

  const pauses: Window[] = [];
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push([e.startTime, e.startTime + e.duration]);
  });
  gc.observe({ entryTypes: ["gc"] });
  const results: IndexerResult[] = [];
  for (const c of indexers) {
    const { result, windows } = timeSelection(c, work, qs, values.warmup as number, blockSize);
    // GC entries reach the observer from a later task, after the synchronous timing loop.
    await sleep(100);
    const { hit, clean } = gcSplit(windows, pauses);
    results.push({ ...result, samplesDuringGc: hit, withoutGc: summarize(clean) });
  }
  gc.disconnect();

  const headers = [
    "indexer",
    "requests",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "hash p50 ms",
    "stored p99",
    "family p99",
    "novel p99",
    "in GC",
    "p99 w/o GC",
  ];
  const rows = results.map((r) => [
    r.indexer,
    r.all.count,
    r.all.p50,
    r.all.p90,
    r.all.p99,
    r.all.max,
    r.hashingMs.p50,
    r.byKind.stored.p99,
    r.byKind.family.p99,
    r.byKind.novel.p99,
    r.samplesDuringGc,
    r.withoutGc.p99,
  ]);
  process.stdout.write(`${formatTable(headers, rows, 3)}\n`);
  const path = writeBenchResult(
    "route-decision",
    {
      command: `pnpm bench:route-decision ${process.argv.slice(2).join(" ")}`.trim(),
      workers: work.workerIds.length,
      indexEntries: work.entries,
      distinctBlocks: work.distinctBlocks,
      promptTokens: values["prompt-tokens"],
      kvCacheBlockSize: blockSize,
      goalP99Ms: 1,
      results,
    },
    parsed.out as string,
  );
  process.stdout.write(`wrote ${path}\n`);
}

await main();
