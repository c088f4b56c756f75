import { type CompletionTiming, goodput, summarizeRun } from "@kvasir/bench";
import { describe, expect, it } from "vitest";
import {
  compare,
  gpusOf,
  parseTopology,
  serveArgv,
  TABLE_HEADERS,
  type TopologyResult,
  tableRow,
} from "./disagg-report.js";

function timing(ttftMs: number, itlMs: number[]): CompletionTiming {
  const e2eMs = ttftMs + itlMs.reduce((a, b) => a + b, 0);
  return {
    ok: true,
    status: 200,
    sentAt: 0,
    ttftMs,
    itlMs,
    e2eMs,
    promptTokens: 100,
    completionTokens: itlMs.length + 1,
    cachedTokens: 0,
  };
}

function result(
  name: string,
  timings: CompletionTiming[],
  prefill: Record<string, number> = {},
): TopologyResult {
  const summary = summarizeRun(timings);
  return {
    topology: parseTopology(name),
    summary,
    goodput: goodput(timings, { ttftMs: 2000, itlMs: 50 }, summary.wallSeconds),
    transfer: { count: 2, p50Ms: 120, p99Ms: 240, meanMs: 130 },
    prefill,
    transferFallbacks: name.includes("p") ? { checksum: 2, timeout: 1 } : {},
    releases: {},
    failures: {},
    host: { loopDelayP99Ms: 12, cpuSeconds: 3, loadAverage: 1 },
  };
}

describe("parseTopology", () => {
  it("reads aggregated and prefill/decode topologies", () => {
    expect(parseTopology("agg4")).toEqual({ name: "agg4", agg: 4, prefill: 0, decode: 0 });
    expect(parseTopology("1p3d")).toEqual({ name: "1p3d", agg: 0, prefill: 1, decode: 3 });
    expect(gpusOf(parseTopology("2p2d"))).toBe(4);
  });

  it("refuses names it cannot read and empty pools", () => {
    expect(() => parseTopology("4")).toThrow(/aggN nor PpDd/);
    expect(() => parseTopology("agg0")).toThrow(/no workers/);
    expect(() => parseTopology("0p4d")).toThrow(/at least one prefill/);
  });
});

describe("serveArgv", () => {
  const engine = {
    numGpuBlocks: 1000,
    maxNumBatchedTokens: 8192,
    maxNumSeqs: 64,
    blockSize: 16,
    speedupRatio: 0.25,
    contextLength: 9000,
    kvBytesPerToken: 4096,
  };
  const common = { model: "m", routerMode: "kv", systemPort: 9100, extra: ["--x=1"] };

  it("differs between topologies only in the worker counts", () => {
    const agg = serveArgv(parseTopology("agg4"), engine, common);
    const pd = serveArgv(parseTopology("1p3d"), engine, common);
    expect(agg[0]).toBe("--workers=4");
    expect(pd.slice(0, 2)).toEqual(["--prefill-workers=1", "--decode-workers=3"]);
    expect(agg.slice(1)).toEqual(pd.slice(2));
    expect(pd).toContain("--speedup-ratio=0.25");
    expect(pd).toContain("--kv-bytes-per-token=4096");
    expect(pd.at(-1)).toBe("--x=1");
  });
});

describe("tableRow", () => {
  it("has a cell per header; transfer and prefill counts only for disaggregated rows", () => {
    const agg = tableRow(result("agg4", [timing(100, [10, 300])]));
    const pd = tableRow(result("1p3d", [timing(400, [10, 10])], { remote: 5, fallback: 1 }));
    expect(agg).toHaveLength(TABLE_HEADERS.length);
    expect(pd).toHaveLength(TABLE_HEADERS.length);
    const col = (h: (typeof TABLE_HEADERS)[number]) => TABLE_HEADERS.indexOf(h);
    expect(agg[col("xfer p50 ms")]).toBeUndefined();
    expect(agg[col("remote/local/fallback")]).toBe("-");
    expect(pd[col("xfer p99 ms")]).toBe(240);
    expect(pd[col("remote/local/fallback")]).toBe("5/0/1");
    expect(pd[col("xfer recompute")]).toBe(3);
    expect(agg[col("xfer recompute")]).toBeUndefined();
    expect(pd[col("SLA met %")]).toBe(100);
  });
});

describe("compare", () => {
  it("rates each disaggregated topology against the aggregated baseline", () => {
    // Baseline: one of two requests meets the SLA (mean gap 155 ms fails); ITL p99 near 300 ms.
    const agg = result("agg4", [timing(100, [10, 300]), timing(100, [10, 10])]);
    const pd = result("1p3d", [timing(400, [10, 10]), timing(400, [10, 10])]);
    const [c] = compare([agg, pd]);
    expect(c?.topology).toBe("1p3d");
    expect(c?.baseline).toBe("agg4");
    // Same wall time (the longer request), twice the requests meeting the SLA.
    expect(c?.goodputRatio).toBeCloseTo(2 / pd.summary.wallSeconds / (1 / agg.summary.wallSeconds));
    expect(c?.itlP99Reduction).toBeGreaterThan(3);
    expect(c?.itlGoalMet).toBe(true);
  });

  it("reports goals missed, and nothing without a baseline", () => {
    const agg = result("agg4", [timing(100, [10, 10])]);
    const slow = result("2p2d", [timing(3000, [10, 10])]);
    const [c] = compare([agg, slow]);
    expect(c?.goodputRatio).toBe(0);
    expect(c?.goodputGoalMet).toBe(false);
    expect(c?.itlGoalMet).toBe(false);
    expect(compare([slow])).toEqual([]);
  });
});
