// pnpm bench:indexer — replays the KV events and lookups that mocker workers produce on the Mooncake synthetic
// trace against the TypeScript radix indexer and the native positional index: one call per event batch and per
// lookup (1 and 2 write threads), and batched (events and lookups packed together, --batch steps per call).
// The event stream is simulated once and cached under .tmp/bench/, so only index operations are timed; each
// run replays it at least --passes times and for at least --min-seconds of CPU time, each pass into a fresh index,
// so a run lasts long enough to be steady. --baseline-addon adds the native rows again for another build of the
// addon (the one before a change, say), so before and after are measured side by side in one process.
//
// Flags: --trace PATH, --requests N (default: all rows), --workers N (16), --gpu-blocks N (2048),
//        --block-size N (16), --max-output N (128), --repeat N (3), --passes N (10), --min-seconds S (2),
//        --batch N (256), --backends LIST, --baseline-addon FILE, --regenerate
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { formatTable, loadTrace, summarize, writeBenchResult } from "@kvasir/bench";
import {
  computeLocalHashes,
  DEFAULT_KV_BLOCK_SIZE,
  fromProtoKvEvent,
  type KvCacheEvent,
  RadixIndexer,
  type WorkerMatch,
} from "@kvasir/kv";
import { MockEngine } from "@kvasir/mocker";
import {
  type Addon,
  EVENT_HEADER_BYTES,
  EVENT_KIND,
  loadNativeIndexer,
  type MatchArrays,
  PackedEventWriter,
  type RawNativeIndex,
} from "@kvasir/native";
import type { FlagSpec } from "@kvasir/runtime";
import { benchFlags } from "./flags.js";
import { repoRoot } from "./repo.js";

const flags: FlagSpec[] = [
  {
    name: "trace",
    type: "string",
    default: join(repoRoot, "../shared/traces/mooncake_synthetic_trace.jsonl"),
    help: "Mooncake-format JSONL trace",
  },
  { name: "requests", type: "number", default: 0, help: "Simulate only the first N rows (0: all rows)" },
  { name: "workers", type: "number", default: 16, help: "Mocker workers producing KV events" },
  { name: "gpu-blocks", type: "number", default: 2048, help: "KV blocks per mocker worker" },
  { name: "block-size", type: "number", default: DEFAULT_KV_BLOCK_SIZE, help: "Tokens per KV block" },
  { name: "max-output", type: "number", default: 128, help: "Cap on each request's output tokens" },
  { name: "repeat", type: "number", default: 3, help: "Timed runs per indexer" },
  {
    name: "passes",
    type: "number",
    default: 10,
    help: "Least replays of the stream per run, each into a fresh index",
  },
  {
    name: "min-seconds",
    type: "number",
    default: 2,
    help: "Least CPU seconds per run: passes continue until both --passes and this are reached (a steadier figure)",
  },
  {
    name: "batch",
    type: "number",
    default: 256,
    help: "Steps (event batches and lookups) per native runBatch call in the batched row",
  },
  {
    name: "backends",
    type: "list",
    default: ["ts", "native", "batch"],
    help: "Rows to run: ts, native (per-call, 1 and 2 write threads), batch (runBatch); one alone suits perf/callgrind",
  },
  {
    name: "baseline-addon",
    type: "string",
    default: "",
    help: "Another build of kvasir_native.node: its native rows are run too, labelled baseline (before/after in one run)",
  },
  { name: "regenerate", type: "boolean", default: false, help: "Simulate again instead of using the cache" },
];

const values = benchFlags(
  "bench:indexer",
  "Replay mocker KV events and lookups against the TypeScript and native indexers.",
  flags,
);
const opts = {
  trace: values.trace as string,
  requests: values.requests as number,
  workers: values.workers as number,
  gpuBlocks: values["gpu-blocks"] as number,
  blockSize: values["block-size"] as number,
  maxOutput: values["max-output"] as number,
  repeat: values.repeat as number,
  passes: Math.max(1, values.passes as number),
  minSeconds: Math.max(0, values["min-seconds"] as number),
  baselineAddon: values["baseline-addon"] as string,
  batch: Math.max(1, values.batch as number),
  backends: (values.backends as string[]).flatMap((b) => b.split(",")).filter((b) => b !== ""),
  regenerate: values.regenerate as boolean,
};

type Step =
  | { kind: "events"; packed: Uint8Array; events: KvCacheEvent[]; blocks: number }
  | { kind: "lookup"; hashes: BigUint64Array };

// ---- Simulation (once): mocker workers serve the trace, routed by KV overlap. ----

/** Tokens of one trace block: a deterministic function of its hash id, so equal ids give equal KV blocks. */
function blockTokens(hashId: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (Math.imul(hashId + 1, 2654435761) + i * 40503) >>> 16);
}

function simulate(): Uint8Array {
  const rows = loadTrace(opts.trace, opts.requests > 0 ? opts.requests : undefined);
  const engines = Array.from(
    { length: opts.workers },
    (_, w) =>
      new MockEngine(
        { numGpuBlocks: opts.gpuBlocks, blockSize: opts.blockSize },
        { workerId: BigInt(w + 1) },
      ),
  );
  const busyUntil = new Float64Array(opts.workers);
  const router = new RadixIndexer();
  const out: Uint8Array[] = [];
  const writer = new PackedEventWriter();
  const record = (kind: number, body: Uint8Array) => {
    const head = new Uint8Array(8);
    new DataView(head.buffer).setUint32(0, kind, true);
    new DataView(head.buffer).setUint32(4, body.byteLength, true);
    out.push(head, body);
  };
  let next = 0;
  let now = 0;
  for (;;) {
    let w = -1;
    for (let i = 0; i < engines.length; i++) {
      if (
        (engines[i] as MockEngine).numRequests > 0 &&
        (w < 0 || (busyUntil[i] as number) < (busyUntil[w] as number))
      )
        w = i;
    }
    const row = rows[next];
    if (row === undefined && w < 0) break;
    if (row !== undefined && (w < 0 || row.timestamp <= (busyUntil[w] as number))) {
      now = Math.max(now, row.timestamp);
      const tokens = row.hashIds.flatMap((h) => blockTokens(h, opts.blockSize));
      const local = computeLocalHashes(tokens, opts.blockSize);
      record(2, new Uint8Array(local.buffer));
      const overlap = new Map<bigint, number>();
      for (const m of router.findMatches(local)) overlap.set(m.workerId, m.matchedBlocks);
      let best = 0;
      let bestCost = Number.POSITIVE_INFINITY;
      engines.forEach((e, i) => {
        const cost = local.length - (overlap.get(BigInt(i + 1)) ?? 0) + e.numRequests * 32;
        if (cost < bestCost) {
          bestCost = cost;
          best = i;
        }
      });
      const e = engines[best] as MockEngine;
      if (e.numRequests === 0) busyUntil[best] = now;
      e.addRequest({
        requestId: `r${next}`,
        tokenIds: tokens,
        maxTokens: Math.max(1, Math.min(row.outputLength, opts.maxOutput)),
      });
      next++;
      continue;
    }
    now = busyUntil[w] as number;
    const res = (engines[w] as MockEngine).step(now);
    busyUntil[w] = now + (res === null ? 1 : Math.max(res.durationMs, 1e-3));
    if (res === null || res.kvEvents.length === 0) continue;
    for (const pe of res.kvEvents) {
      const ev = fromProtoKvEvent(pe);
      if (ev === undefined) continue;
      router.applyEvent(ev);
      writer.push(ev);
    }
    record(1, writer.take());
  }
  const total = out.reduce((s, b) => s + b.byteLength, 0);
  const file = new Uint8Array(total);
  let o = 0;
  for (const b of out) {
    file.set(b, o);
    o += b.byteLength;
  }
  return file;
}

// ---- Loading the cached stream. ----

function unpack(packed: Uint8Array): { events: KvCacheEvent[]; blocks: number } {
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const events: KvCacheEvent[] = [];
  let blocks = 0;
  for (let o = 0; o < packed.byteLength; ) {
    const kind = view.getUint8(o);
    const hasParent = (view.getUint8(o + 1) & 1) !== 0;
    const base = {
      workerId: view.getBigUint64(o + 8, true),
      dpRank: view.getUint32(o + 4, true),
      eventId: view.getBigUint64(o + 16, true),
    };
    const parent = view.getBigUint64(o + 24, true);
    const n = view.getUint32(o + 32, true);
    const body = o + EVENT_HEADER_BYTES;
    if (kind === EVENT_KIND.stored) {
      const localHashes = new BigUint64Array(n);
      const seqHashes = new BigUint64Array(n);
      for (let i = 0; i < n; i++) {
        localHashes[i] = view.getBigUint64(body + 16 * i, true);
        seqHashes[i] = view.getBigUint64(body + 16 * i + 8, true);
      }
      events.push({
        ...base,
        data: {
          kind: "stored",
          localHashes,
          seqHashes,
          tokenIds: new Uint32Array(0),
          blockSize: opts.blockSize,
          loraName: "",
          ...(hasParent ? { parentSeqHash: parent } : {}),
        },
      });
      o = body + 16 * n;
    } else if (kind === EVENT_KIND.removed) {
      const seqHashes = new BigUint64Array(n);
      for (let i = 0; i < n; i++) seqHashes[i] = view.getBigUint64(body + 8 * i, true);
      events.push({ ...base, data: { kind: "removed", seqHashes } });
      o = body + 8 * n;
    } else {
      events.push({ ...base, data: { kind: "cleared" } });
      o = body;
    }
    blocks += n;
  }
  return { events, blocks };
}

/**
 * The recorded steps; the events of consecutive engine steps between two lookups form one batch, as an
 * indexer draining its event subscription would apply them.
 */
function load(bytes: Uint8Array): Step[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const steps: Step[] = [];
  let pending: Uint8Array[] = [];
  const flushEvents = () => {
    if (pending.length === 0) return;
    const packed = new Uint8Array(pending.reduce((s, b) => s + b.byteLength, 0));
    let o = 0;
    for (const b of pending) {
      packed.set(b, o);
      o += b.byteLength;
    }
    steps.push({ kind: "events", packed, ...unpack(packed) });
    pending = [];
  };
  for (let o = 0; o < bytes.byteLength; ) {
    const kind = view.getUint32(o, true);
    const len = view.getUint32(o + 4, true);
    const body = bytes.slice(o + 8, o + 8 + len);
    if (kind === 1) {
      pending.push(body);
    } else {
      flushEvents();
      steps.push({ kind: "lookup", hashes: new BigUint64Array(body.buffer, 0, len / 8) });
    }
    o += 8 + len;
  }
  flushEvents();
  return steps;
}

// ---- Timed replays. ----

interface RunResult {
  seconds: number;
  /** Process CPU time (all threads) during the run. */
  cpuSeconds: number;
  /** Replays of the stream in this run. */
  passes: number;
  lookupUs: number[];
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

/** Runs `pass(i)` at least --passes times and until --min-seconds of process CPU time have gone by. */
function timed(pass: (i: number) => void): Omit<RunResult, "lookupUs"> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let passes = 0;
  while (passes < opts.passes || cpuSince(c0) < opts.minSeconds) pass(passes++);
  return { seconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSince(c0), passes };
}

function runTs(steps: readonly Step[]): RunResult {
  const lookupUs: number[] = [];
  const t = timed((pass) => {
    const ix = new RadixIndexer();
    for (const s of steps) {
      if (s.kind === "events") {
        for (const ev of s.events) ix.applyEvent(ev);
      } else {
        const a = performance.now();
        ix.findMatches(s.hashes);
        if (pass === 0) lookupUs.push((performance.now() - a) * 1000);
      }
    }
  });
  return { ...t, lookupUs };
}

/** Makes a raw native index: this build's addon, or the --baseline-addon one. */
type NativeFactory = (threads: number) => RawNativeIndex;

const currentAddon: NativeFactory = (threads) => {
  const load = loadNativeIndexer();
  if (!load.ok) throw new Error(`native indexer unavailable: ${load.reason}`);
  return load.create({ threads }).raw;
};

function isAddon(x: unknown): x is Addon {
  return typeof x === "object" && x !== null && "NativeIndex" in x && typeof x.NativeIndex === "function";
}

function addonAt(path: string): NativeFactory {
  // A second copy of the addon loads beside the first (its symbols stay local to it).
  const mod: unknown = createRequire(import.meta.url)(resolve(path));
  if (!isAddon(mod)) throw new Error(`${path} is not the Kvasir addon`);
  return (threads) => new mod.NativeIndex(threads, 64);
}

function runNative(
  steps: readonly Step[],
  threads: number,
  make: NativeFactory,
): RunResult & { parity: number } {
  const lookupUs: number[] = [];
  let last = make(threads);
  const t = timed((pass) => {
    const ix = make(threads);
    for (const s of steps) {
      if (s.kind === "events") {
        ix.applyEvents(s.packed);
      } else {
        const a = performance.now();
        ix.findMatches(s.hashes);
        if (pass === 0) lookupUs.push((performance.now() - a) * 1000);
      }
    }
    ix.flush();
    // The index a pass leaves behind gives its memory back now, not when the collector finalizes it.
    last.clear();
    last = ix;
  });
  const ix = last;
  return { ...t, lookupUs, parity: parityMismatches(steps, (q) => ix.findMatches(q)) };
}

/** The steps packed `opts.batch` at a time into runBatch buffers (events and lookups in order). */
function packBatches(steps: readonly Step[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const w = new PackedEventWriter();
  let parts: Uint8Array[] = [];
  let n = 0;
  const cut = () => {
    const lookups = w.take();
    if (lookups.byteLength > 0) parts.push(lookups);
    const buf = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
    let o = 0;
    for (const p of parts) {
      buf.set(p, o);
      o += p.byteLength;
    }
    out.push(buf);
    parts = [];
    n = 0;
  };
  for (const s of steps) {
    if (s.kind === "events") {
      const lookups = w.take();
      if (lookups.byteLength > 0) parts.push(lookups);
      parts.push(s.packed);
    } else {
      w.pushLookup(s.hashes);
    }
    if (++n === opts.batch) cut();
  }
  if (n > 0) cut();
  return out;
}

/** Batched: every call applies and answers `opts.batch` steps; a lookup's latency is its call's share. */
function runBatched(
  batches: readonly Uint8Array[],
  steps: readonly Step[],
  make: NativeFactory,
): RunResult & { parity: number } {
  let last = make(1);
  let lookups = 0;
  const t = timed(() => {
    const ix = make(1);
    for (const b of batches) lookups += ix.runBatch(b).counts.length;
    last.clear();
    last = ix;
  });
  const ix = last;
  const perLookupUs = (t.seconds * 1e6) / Math.max(1, lookups);
  return { ...t, lookupUs: [perLookupUs], parity: parityMismatches(steps, (q) => ix.findMatches(q)) };
}

/** Final-state lookups that disagree with the reference (should be 0). */
function parityMismatches(steps: readonly Step[], nativeFind: (q: BigUint64Array) => MatchArrays): number {
  const ref = new RadixIndexer();
  for (const s of steps) if (s.kind === "events") for (const ev of s.events) ref.applyEvent(ev);
  const key = (ms: WorkerMatch[]) =>
    ms
      .map((m) => `${m.workerId}/${m.dpRank}:${m.matchedBlocks}`)
      .sort()
      .join(",");
  const lookups = steps.filter((s): s is Extract<Step, { kind: "lookup" }> => s.kind === "lookup");
  let bad = 0;
  for (const s of lookups.slice(-500)) {
    const n = nativeFind(s.hashes);
    const got = Array.from(n.depths, (d, i) => ({
      workerId: n.workerIds[i] as bigint,
      dpRank: n.dpRanks[i] as number,
      matchedBlocks: d,
    }));
    if (key(got) !== key(ref.findMatches(s.hashes))) bad++;
  }
  return bad;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function main(): Promise<void> {
  const params = {
    ...opts,
    regenerate: undefined,
    repeat: undefined,
    passes: undefined,
    minSeconds: undefined,
    baselineAddon: undefined,
    batch: undefined,
    backends: undefined,
    traceMtime: statSync(opts.trace).mtimeMs,
  };
  const tag = createHash("sha256").update(JSON.stringify(params)).digest("hex").slice(0, 12);
  const cache = join(repoRoot, ".tmp/bench", `indexer-stream-${tag}.bin`);
  if (opts.regenerate || !existsSync(cache)) {
    const t = performance.now();
    const bytes = simulate();
    mkdirSync(dirname(cache), { recursive: true });
    writeFileSync(cache, bytes);
    console.log(`simulated the event stream in ${((performance.now() - t) / 1000).toFixed(1)} s -> ${cache}`);
  }
  const steps = load(new Uint8Array(readFileSync(cache)));
  let stored = 0;
  let removed = 0;
  let looked = 0;
  let lookups = 0;
  let events = 0;
  for (const s of steps) {
    if (s.kind === "lookup") {
      looked += s.hashes.length;
      lookups++;
      continue;
    }
    events += s.events.length;
    for (const ev of s.events) {
      if (ev.data.kind === "stored") stored += ev.data.localHashes.length;
      else if (ev.data.kind === "removed") removed += ev.data.seqHashes.length;
    }
  }
  const opsPerPass = stored + removed + looked;
  console.log(
    `stream: ${events} events (${stored} blocks stored, ${removed} removed), ${lookups} lookups (${looked} blocks); ` +
      `${opsPerPass} ops per pass; each run at least ${opts.passes} passes and ${opts.minSeconds} CPU seconds`,
  );

  interface Row {
    backend: string;
    threads: number;
    passes: number;
    seconds: number;
    cpuSeconds: number;
    opsPerSec: number;
    opsPerCpuSec: number;
    p50: number;
    p99: number;
    parity?: number;
  }
  const row = (backend: string, threads: number, runs: (RunResult & { parity?: number })[]): Row => {
    const fastest = runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    const lat = summarize(fastest.lookupUs);
    const parity = runs.some((r) => r.parity !== undefined)
      ? Math.max(...runs.map((r) => r.parity ?? 0))
      : undefined;
    return {
      backend,
      threads,
      passes: median(runs.map((r) => r.passes)),
      seconds: median(runs.map((r) => r.seconds)),
      cpuSeconds: median(runs.map((r) => r.cpuSeconds)),
      opsPerSec: median(runs.map((r) => (opsPerPass * r.passes) / r.seconds)),
      opsPerCpuSec: median(runs.map((r) => (opsPerPass * r.passes) / r.cpuSeconds)),
      p50: lat.p50,
      p99: lat.p99,
      ...(parity !== undefined ? { parity } : {}),
    };
  };
  // Every row's runs are interleaved (one run of each row per round), so a change in the machine's load touches
  // all rows alike.
  interface Spec {
    backend: string;
    threads: number;
    run: () => RunResult & { parity?: number };
  }
  const specs: Spec[] = [];
  if (opts.backends.includes("ts"))
    specs.push({ backend: "typescript radix", threads: 1, run: () => runTs(steps) });
  const builds: [string, NativeFactory][] = [["", currentAddon]];
  if (opts.baselineAddon !== "") builds.unshift([" (baseline addon)", addonAt(opts.baselineAddon)]);
  const batches = opts.backends.includes("batch") ? packBatches(steps) : [];
  for (const [label, make] of builds) {
    if (opts.backends.includes("native")) {
      for (const threads of [1, 2]) {
        specs.push({
          backend: `native positional${label}`,
          threads,
          run: () => runNative(steps, threads, make),
        });
      }
    }
    if (opts.backends.includes("batch")) {
      specs.push({
        backend: `native runBatch (${opts.batch} steps/call)${label}`,
        threads: 0,
        run: () => runBatched(batches, steps, make),
      });
    }
  }
  const reps = Math.max(1, opts.repeat);
  const runs: (RunResult & { parity?: number })[][] = specs.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (const [i, spec] of specs.entries()) runs[i]?.push(spec.run());
  }
  const rows: Row[] = specs.map((spec, i) => row(spec.backend, spec.threads, runs[i] ?? []));
  const ts = rows.find((r) => r.backend === "typescript radix");
  const tsRate = ts?.opsPerSec ?? Number.NaN;
  const tsCpuRate = ts?.opsPerCpuSec ?? Number.NaN;
  console.log(
    formatTable(
      [
        "backend",
        "write threads",
        "passes",
        "wall s",
        "Mops/s",
        "x TS",
        "CPU s",
        "Mops per CPU-s",
        "x TS per CPU-s",
        "lookup p50 us",
        "lookup p99 us",
        "parity mismatches",
      ],
      rows.map((r) => [
        r.backend,
        r.threads,
        r.passes,
        r.seconds,
        r.opsPerSec / 1e6,
        r.opsPerSec / tsRate,
        r.cpuSeconds,
        r.opsPerCpuSec / 1e6,
        r.opsPerCpuSec / tsCpuRate,
        r.p50,
        r.p99,
        r.parity,
      ]),
      3,
    ),
  );
  const path = writeBenchResult("indexer", {
    command: `pnpm bench:indexer ${process.argv.slice(2).join(" ")}`.trim(),
    params: { ...opts, regenerate: undefined },
    stream: { events, stored, removed, lookups, lookedUpBlocks: looked, opsPerPass, cache },
    results: rows,
    note: "ops = blocks stored + removed + looked up per pass, times the run's passes (at least --passes, and until --min-seconds of CPU); rates, wall and CPU seconds (process CPU, all threads) are medians of --repeat runs, interleaved across rows; lookup latencies from the first pass of the fastest run (batched: wall time per lookup, events included); reads run on the main thread beside the write pool (runBatch: events too, write threads 0); the machine has 2 cores",
  });
  console.log(`wrote ${path}`);
}

await main();
