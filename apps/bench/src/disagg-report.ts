// Pure parts of `pnpm bench:disagg`: topology names, the `kvasir serve` flags of a topology, table rows, and the
// comparison of each disaggregated topology with the aggregated baseline against the goals.
import type { Cell, Goodput, RunSummary } from "@kvasir/bench";

export interface Topology {
  /** As given on the command line: `agg4`, `1p3d`. */
  name: string;
  agg: number;
  prefill: number;
  decode: number;
}

/** `aggN` (N aggregated workers) or `PpDd` (P prefill and D decode workers). */
export function parseTopology(name: string): Topology {
  const agg = /^agg(\d+)$/.exec(name);
  if (agg) {
    const n = Number(agg[1]);
    if (n < 1) throw new Error(`topology '${name}' has no workers`);
    return { name, agg: n, prefill: 0, decode: 0 };
  }
  const pd = /^(\d+)p(\d+)d$/.exec(name);
  if (pd) {
    const prefill = Number(pd[1]);
    const decode = Number(pd[2]);
    if (prefill < 1 || decode < 1)
      throw new Error(`topology '${name}' needs at least one prefill and one decode worker`);
    return { name, agg: 0, prefill, decode };
  }
  throw new Error(`topology '${name}' is neither aggN nor PpDd (e.g. agg4, 1p3d)`);
}

/** Simulated GPUs of a topology: one per worker, whatever its role. */
export const gpusOf = (t: Topology): number => t.agg + t.prefill + t.decode;

/** The engine configuration every topology shares, as `kvasir serve` flags. */
export interface EngineFlags {
  numGpuBlocks: number;
  maxNumBatchedTokens: number;
  maxNumSeqs: number;
  blockSize: number;
  speedupRatio: number;
  contextLength: number;
  kvBytesPerToken: number;
}

/** `kvasir serve` flags for one topology: the same engine flags for every topology, only worker counts differ. */
export function serveArgv(
  t: Topology,
  engine: EngineFlags,
  common: { model: string; routerMode: string; systemPort: number; extra: readonly string[] },
): string[] {
  return [
    ...(t.agg > 0
      ? [`--workers=${t.agg}`]
      : [`--prefill-workers=${t.prefill}`, `--decode-workers=${t.decode}`]),
    `--router-mode=${common.routerMode}`,
    `--num-gpu-blocks=${engine.numGpuBlocks}`,
    `--max-num-batched-tokens=${engine.maxNumBatchedTokens}`,
    `--max-num-seqs=${engine.maxNumSeqs}`,
    `--kv-cache-block-size=${engine.blockSize}`,
    `--speedup-ratio=${engine.speedupRatio}`,
    `--context-length=${engine.contextLength}`,
    `--kv-bytes-per-token=${engine.kvBytesPerToken}`,
    `--model-name=${common.model}`,
    "--http-host=127.0.0.1",
    "--http-port=0",
    `--system-port=${common.systemPort}`,
    "--log-level=warn",
    ...common.extra,
  ];
}

export interface TransferStats {
  /** Pulls the decode workers completed (histogram count). */
  count: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

export interface TopologyResult {
  topology: Topology;
  summary: RunSummary;
  goodput: Goodput;
  transfer: TransferStats;
  /** dynamo_frontend_disaggregated_requests_total by prefill: remote, local, fallback. */
  prefill: Record<string, number>;
  /** dynamo_component_kv_transfer_fallbacks_total by reason, over the decode workers. */
  transferFallbacks: Record<string, number>;
  /** dynamo_component_kv_transfer_releases_total by reason, over the prefill workers (released, lease_expired, ...). */
  releases: Record<string, number>;
  /** Failed requests by reason, as the client saw them. */
  failures: Record<string, number>;
  /** The serving process's event-loop delay and CPU, and the machine's 1-minute load average at the end (2 cores). */
  host: { loopDelayP99Ms: number; cpuSeconds: number; loadAverage: number };
}

export const TABLE_HEADERS = [
  "topology",
  "ok",
  "failed",
  "ttft p50 ms",
  "ttft p90 ms",
  "ttft p99 ms",
  "itl p50 ms",
  "itl p90 ms",
  "itl p99 ms",
  "out tok/s",
  "xfer p50 ms",
  "xfer p99 ms",
  "remote/local/fallback",
  "xfer recompute",
  "goodput req/s",
  "strict req/s",
  "SLA met %",
  "loop p99 ms",
] as const;

/**
 * One table row; transfer cells are empty for a topology that moved no KV. The frontend counts a prefill leg that
 * failed as `fallback`; a pull that failed after a good prefill is recomputed by the decode worker, which counts it.
 */
export function tableRow(r: TopologyResult): Cell[] {
  const s = r.summary;
  const disaggregated = r.topology.prefill > 0;
  const count = (key: string) => r.prefill[key] ?? 0;
  return [
    r.topology.name,
    s.succeeded,
    s.failed,
    s.ttftMs.p50,
    s.ttftMs.p90,
    s.ttftMs.p99,
    s.itlMs.p50,
    s.itlMs.p90,
    s.itlMs.p99,
    s.outputTokensPerSecond,
    disaggregated ? r.transfer.p50Ms : undefined,
    disaggregated ? r.transfer.p99Ms : undefined,
    disaggregated ? `${count("remote")}/${count("local")}/${count("fallback")}` : "-",
    disaggregated ? Object.values(r.transferFallbacks).reduce((a, b) => a + b, 0) : undefined,
    r.goodput.requestsPerSecond,
    r.goodput.strictRequestsPerSecond,
    100 * r.goodput.fraction,
    r.host.loopDelayP99Ms,
  ];
}

export interface Comparison {
  topology: string;
  baseline: string;
  /** Disaggregated goodput over the baseline's (Infinity when the baseline's is 0 and this one's is not). */
  goodputRatio: number;
  strictGoodputRatio: number;
  /** Baseline ITL p99 over this one's: how many times lower. */
  itlP99Reduction: number;
  /** The goals: goodput at least 2x, ITL p99 at least 3x lower. */
  goodputGoalMet: boolean;
  itlGoalMet: boolean;
}

function ratio(a: number, b: number): number {
  if (b === 0) return a === 0 ? 1 : Number.POSITIVE_INFINITY;
  return a / b;
}

/** Each disaggregated result against the first aggregated one; none without an aggregated baseline. */
export function compare(results: readonly TopologyResult[]): Comparison[] {
  const baseline = results.find((r) => r.topology.agg > 0);
  if (!baseline) return [];
  return results
    .filter((r) => r.topology.prefill > 0)
    .map((r) => {
      const goodputRatio = ratio(r.goodput.requestsPerSecond, baseline.goodput.requestsPerSecond);
      const itlP99Reduction = ratio(baseline.summary.itlMs.p99, r.summary.itlMs.p99);
      return {
        topology: r.topology.name,
        baseline: baseline.topology.name,
        goodputRatio,
        strictGoodputRatio: ratio(
          r.goodput.strictRequestsPerSecond,
          baseline.goodput.strictRequestsPerSecond,
        ),
        itlP99Reduction,
        goodputGoalMet: goodputRatio >= 2,
        itlGoalMet: itlP99Reduction >= 3,
      };
    });
}
