// The engine's load, scraped from its Prometheus /metrics (names in FORMATS.md "Engine load metrics"; parser in
// @kvasir/engine-wire) every interval, as Kvasir's LoadMetrics per dp rank. A data-parallel engine labels each
// rank's series (vLLM `engine`, SGLang `dp_rank`); an engine whose series carry no rank gets its totals shared
// evenly over the ranks.
import {
  type EngineProtocol,
  type ExpositionFamily,
  parseEngineMetrics,
  parsePrometheusFamilies,
  SGLANG_METRICS,
  VLLM_METRICS,
} from "@kvasir/engine-wire";
import { create, type LoadMetrics, LoadMetricsSchema } from "@kvasir/protocol";
import type { Logger } from "@kvasir/telemetry";
import type { EngineHttpClient } from "./http-client.js";

export interface LoadScraperOptions {
  protocol: EngineProtocol;
  client: EngineHttpClient;
  path: string;
  workerId: bigint;
  dataParallelSize: number;
  /** KV blocks per dp rank. */
  totalKvBlocks: number;
  intervalMs: number;
  log: Logger;
  /** Called with every reading that differs from the one before. */
  changed(ranks: LoadMetrics[]): void;
}

/** One rank's running and waiting requests and KV usage (0..1). */
export interface RankLoad {
  running: number;
  waiting: number;
  kvUsage: number;
}

const RANK_LABEL: Record<EngineProtocol, string> = { vllm: "engine", sglang: "dp_rank" };

/**
 * Each rank's load from the engine's per-rank series, or undefined when they do not name every rank 0..n-1 (an
 * engine with one rank, or one that sums its ranks).
 */
export function rankLoads(
  protocol: EngineProtocol,
  families: readonly ExpositionFamily[],
  n: number,
): RankLoad[] | undefined {
  const names = protocol === "vllm" ? VLLM_METRICS : SGLANG_METRICS;
  const byName = new Map(families.map((f) => [f.name, f]));
  const ranks = Array.from({ length: n }, () => ({ running: 0, waiting: 0, kvUsage: 0, seen: false }));
  const key = RANK_LABEL[protocol];
  for (const [field, name] of [
    ["running", names.running],
    ["waiting", names.waiting],
    ["kvUsage", names.kvUsage],
  ] as const) {
    for (const sample of byName.get(name)?.samples ?? []) {
      const rank = Number(sample.labels[key]);
      const entry = Number.isInteger(rank) ? ranks[rank] : undefined;
      if (!entry) return undefined;
      entry[field] += sample.value;
      entry.seen = true;
    }
  }
  if (!ranks.every((r) => r.seen)) return undefined;
  return ranks.map(({ running, waiting, kvUsage }) => ({ running, waiting, kvUsage }));
}

/** Splits `total` over `n` ranks as evenly as whole numbers allow (the first ranks take the remainder). */
export function shareOf(total: number, n: number, rank: number): number {
  return Math.floor(total / n) + (rank < total % n ? 1 : 0);
}

export class LoadScraper {
  private latest: LoadMetrics[];
  private text = "";
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private closed = false;

  constructor(private readonly options: LoadScraperOptions) {
    this.latest = this.toRanks(0, 0, 0);
  }

  get current(): LoadMetrics[] {
    return this.latest;
  }

  /** The engine's /metrics text as last scraped ("" before the first scrape). */
  get lastText(): string {
    return this.text;
  }

  start(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.scrape().finally(() => this.schedule()), this.options.intervalMs);
  }

  /** One scrape; failures are logged once until the next success (the engine may be restarting). */
  async scrape(): Promise<void> {
    const { client, path, protocol, log } = this.options;
    try {
      const text = await client.text(path, { timeoutMs: 5000 });
      const reading = parseEngineMetrics(protocol, text);
      this.text = text.endsWith("\n") || text === "" ? text : `${text}\n`;
      if (this.failing) log.info("engine metrics back", { path });
      this.failing = false;
      const n = this.options.dataParallelSize;
      const perRank = n > 1 ? rankLoads(protocol, parsePrometheusFamilies(text), n) : undefined;
      const next =
        perRank?.map((load, rank) => this.rankMetrics(rank, load)) ??
        this.toRanks(reading.runningRequests, reading.waitingRequests, reading.kvUsage);
      if (next.some((m, i) => !sameLoad(m, this.latest[i]))) {
        this.latest = next;
        this.options.changed(next);
      }
    } catch (error) {
      if (!this.failing) log.warn("cannot read engine metrics", { path, error: String(error) });
      this.failing = true;
    }
  }

  private toRanks(running: number, waiting: number, kvUsage: number): LoadMetrics[] {
    const n = this.options.dataParallelSize;
    return Array.from({ length: n }, (_, rank) =>
      this.rankMetrics(rank, {
        running: shareOf(running, n, rank),
        waiting: shareOf(waiting, n, rank),
        kvUsage,
      }),
    );
  }

  private rankMetrics(rank: number, load: RankLoad): LoadMetrics {
    const { totalKvBlocks, workerId } = this.options;
    return create(LoadMetricsSchema, {
      workerId,
      dpRank: rank,
      activeKvBlocks: BigInt(Math.round(Math.min(Math.max(load.kvUsage, 0), 1) * totalKvBlocks)),
      totalKvBlocks: BigInt(totalKvBlocks),
      numRequestsRunning: Math.round(load.running),
      numRequestsWaiting: Math.round(load.waiting),
      timestampMs: BigInt(Date.now()),
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

function sameLoad(a: LoadMetrics, b: LoadMetrics | undefined): boolean {
  return (
    b !== undefined &&
    a.activeKvBlocks === b.activeKvBlocks &&
    a.numRequestsRunning === b.numRequestsRunning &&
    a.numRequestsWaiting === b.numRequestsWaiting
  );
}
