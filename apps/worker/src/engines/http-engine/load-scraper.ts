// The engine's load, scraped from its Prometheus /metrics (names in FORMATS.md "Engine load metrics"; parser in
// @kvasir/engine-wire) every interval, as Kvasir's LoadMetrics per dp rank. An engine reports its dp ranks
// together, so each rank gets an even share of the counts and the engine's KV usage.
import { type EngineProtocol, parseEngineMetrics } from "@kvasir/engine-wire";
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

/** Splits `total` over `n` ranks as evenly as whole numbers allow (the first ranks take the remainder). */
export function shareOf(total: number, n: number, rank: number): number {
  return Math.floor(total / n) + (rank < total % n ? 1 : 0);
}

export class LoadScraper {
  private latest: LoadMetrics[];
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private closed = false;

  constructor(private readonly options: LoadScraperOptions) {
    this.latest = this.toRanks(0, 0, 0);
  }

  get current(): LoadMetrics[] {
    return this.latest;
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
      const reading = parseEngineMetrics(protocol, await client.text(path, { timeoutMs: 5000 }));
      if (this.failing) log.info("engine metrics back", { path });
      this.failing = false;
      const next = this.toRanks(reading.runningRequests, reading.waitingRequests, reading.kvUsage);
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
    const { dataParallelSize: n, totalKvBlocks, workerId } = this.options;
    const active = Math.round(Math.min(Math.max(kvUsage, 0), 1) * totalKvBlocks);
    return Array.from({ length: n }, (_, rank) =>
      create(LoadMetricsSchema, {
        workerId,
        dpRank: rank,
        activeKvBlocks: BigInt(active),
        totalKvBlocks: BigInt(totalKvBlocks),
        numRequestsRunning: shareOf(running, n, rank),
        numRequestsWaiting: shareOf(waiting, n, rank),
        timestampMs: BigInt(Date.now()),
      }),
    );
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
