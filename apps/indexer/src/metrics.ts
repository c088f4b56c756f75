import type { KvCacheEvent, WorkerBlocks } from "@kvasir/kv";
import { formatInstanceId } from "@kvasir/runtime";
import {
  createIndexerServiceMetrics,
  createKvIndexMetrics,
  createMetricsRegistry,
  hierarchyLabels,
  type MetricsRegistry,
} from "@kvasir/telemetry";
import { Counter, Gauge } from "prom-client";

/**
 * The indexer's Prometheus families. Dynamo's names where Dynamo has them (dynamo_component_kv_cache_events_applied,
 * dynamo_kvindexer_requests_total / _request_duration_seconds / _errors_total / _workers); the rest follow the
 * same dynamo_kvindexer_* pattern.
 */
export class IndexerMetrics {
  readonly registry: MetricsRegistry;
  private readonly eventsApplied;
  private readonly service;
  private readonly eventsDropped: Counter<"reason">;
  private readonly eventIdGaps: Counter<never>;
  private readonly snapshots: Counter<"status">;

  constructor(namespace: string, blocks: () => WorkerBlocks[]) {
    // No worker_id default label: on this registry worker_id names the workers whose blocks are counted.
    this.registry = createMetricsRegistry(hierarchyLabels({ namespace, component: "indexer" }));
    const registers = [this.registry];
    this.eventsApplied = createKvIndexMetrics(this.registry).kvCacheEventsApplied;
    this.service = createIndexerServiceMetrics(this.registry);
    // One index per indexer process (Dynamo counts one per model and routing group).
    this.service.models.set(1);
    this.eventsDropped = new Counter({
      name: "dynamo_kvindexer_events_dropped_total",
      help: "KV events and batches not applied, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.eventIdGaps = new Counter({
      name: "dynamo_kvindexer_event_id_gaps_total",
      help: "Times a worker's event_id jumped past the next expected one on the event plane",
      registers,
    });
    this.snapshots = new Counter({
      name: "dynamo_kvindexer_snapshots_total",
      help: "Snapshots written to Redis, by outcome",
      labelNames: ["status"],
      registers,
    });
    const workers = this.service.workers;
    // Block counts are read from the index when scraped rather than tracked on every event.
    new Gauge({
      name: "dynamo_kvindexer_blocks",
      help: "KV blocks the index holds per worker and dp rank",
      labelNames: ["worker_id", "dp_rank"],
      registers,
      collect() {
        this.reset();
        const held = blocks();
        for (const w of held) {
          this.set({ worker_id: formatInstanceId(w.workerId), dp_rank: String(w.dpRank) }, w.blocks);
        }
        workers.set(new Set(held.map((w) => w.workerId)).size);
      },
    });
  }

  applied(event: KvCacheEvent): void {
    this.eventsApplied.inc({ event_type: event.data.kind, status: "ok" });
  }

  dropped(reason: string, count: number): void {
    if (count > 0) this.eventsDropped.inc({ reason }, count);
  }

  gap(): void {
    this.eventIdGaps.inc();
  }

  snapshot(ok: boolean): void {
    this.snapshots.inc({ status: ok ? "ok" : "failed" });
  }

  /** Times one FindMatches; the result is returned unchanged. */
  timeLookup<T>(lookup: () => T): T {
    const end = this.service.requestDuration.startTimer({ endpoint: "find_matches" });
    this.service.requestsTotal.inc({ endpoint: "find_matches" });
    try {
      return lookup();
    } catch (error) {
      this.service.errorsTotal.inc({ endpoint: "find_matches" });
      throw error;
    } finally {
      end();
    }
  }
}
