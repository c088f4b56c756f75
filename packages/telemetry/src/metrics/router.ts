// Router and indexer metric families with Dynamo's names: dynamo_component_router_* (per router, bound to its
// router_id), dynamo_router_overhead_*_ms, dynamo_component_kv_cache_events_applied and dynamo_kvindexer_*.
import { Counter, Gauge, Histogram } from "prom-client";
import { exponentialBuckets, linearBuckets, logBuckets } from "./buckets.js";
import type { MetricsRegistry } from "./registry.js";

type CounterChild = ReturnType<Counter<"router_id">["labels"]>;
type HistogramChild = ReturnType<Histogram<"router_id">["labels"]>;

export interface RouterMetrics {
  requestsTotal: CounterChild;
  /** Kvasir's: bookings freed because their lease ran out (a caller that booked and never freed). */
  bookingsExpiredTotal: CounterChild;
  timeToFirstToken: HistogramChild;
  interTokenLatency: HistogramChild;
  inputSequenceTokens: HistogramChild;
  outputSequenceTokens: HistogramChild;
  /** Predicted KV cache hit rate at routing time (0.0-1.0). */
  kvHitRate: HistogramChild;
  /** Routing phases in milliseconds. */
  overheadBlockHashingMs: HistogramChild;
  overheadSeqHashingMs: HistogramChild;
  overheadIndexerFindMatchesMs: HistogramChild;
  overheadSchedulingMs: HistogramChild;
  overheadTotalMs: HistogramChild;
}

export function createRouterMetrics(registry: MetricsRegistry, routerId: string): RouterMetrics {
  const registers = [registry];
  const labelNames = ["router_id"] as const;
  const bound = { router_id: routerId };
  const histogram = (name: string, help: string, buckets: number[]) =>
    new Histogram({ name, help, labelNames, buckets, registers }).labels(bound);
  // CPU-bound phases are short; async ones (indexer lookups, queueing) spread wider.
  const compute = exponentialBuckets(0.001, 2, 15);
  const wait = exponentialBuckets(0.01, 3, 17);
  return {
    requestsTotal: new Counter({
      name: "dynamo_component_router_requests_total",
      help: "Total number of requests processed by the router",
      labelNames,
      registers,
    }).labels(bound),
    bookingsExpiredTotal: new Counter({
      name: "dynamo_component_router_bookings_expired_total",
      help: "Bookings freed because their lease ran out before the caller freed them",
      labelNames,
      registers,
    }).labels(bound),
    timeToFirstToken: histogram(
      "dynamo_component_router_time_to_first_token_seconds",
      "Time to first token observed at the router",
      logBuckets(0.001, 480, 18),
    ),
    interTokenLatency: histogram(
      "dynamo_component_router_inter_token_latency_seconds",
      "Average inter-token latency observed at the router",
      logBuckets(0.001, 2, 13),
    ),
    inputSequenceTokens: histogram(
      "dynamo_component_router_input_sequence_tokens",
      "Input sequence length in tokens observed at the router",
      logBuckets(50, 128000, 12),
    ),
    outputSequenceTokens: histogram(
      "dynamo_component_router_output_sequence_tokens",
      "Output sequence length in tokens observed at the router",
      logBuckets(50, 32000, 10),
    ),
    kvHitRate: histogram(
      "dynamo_component_router_kv_hit_rate",
      "Predicted KV cache hit rate at routing time (0.0-1.0)",
      linearBuckets(0, 0.05, 21),
    ),
    overheadBlockHashingMs: histogram(
      "dynamo_router_overhead_block_hashing_ms",
      "Time spent computing block hashes in milliseconds",
      compute,
    ),
    overheadSeqHashingMs: histogram(
      "dynamo_router_overhead_seq_hashing_ms",
      "Time spent computing sequence hashes in milliseconds",
      compute,
    ),
    overheadIndexerFindMatchesMs: histogram(
      "dynamo_router_overhead_indexer_find_matches_ms",
      "Time spent in indexer find_matches in milliseconds",
      wait,
    ),
    overheadSchedulingMs: histogram(
      "dynamo_router_overhead_scheduling_ms",
      "Time spent in scheduler worker selection in milliseconds",
      wait,
    ),
    overheadTotalMs: histogram(
      "dynamo_router_overhead_total_ms",
      "Total routing overhead per request in milliseconds",
      wait,
    ),
  };
}

/** Events applied to a KV index, wherever one lives (router or standalone indexer). */
export function createKvIndexMetrics(registry: MetricsRegistry): {
  kvCacheEventsApplied: Counter<"event_type" | "status">;
} {
  return {
    kvCacheEventsApplied: new Counter({
      name: "dynamo_component_kv_cache_events_applied",
      help: "Total number of KV cache events applied to index",
      labelNames: ["event_type", "status"],
      registers: [registry],
    }),
  };
}

export interface IndexerServiceMetrics {
  /** `endpoint` is the indexer RPC method name. */
  requestsTotal: Counter<"endpoint">;
  requestDuration: Histogram<"endpoint">;
  errorsTotal: Counter<"endpoint">;
  models: Gauge<never>;
  workers: Gauge<never>;
}

/** The standalone indexer service (dynamo_kvindexer_*). */
export function createIndexerServiceMetrics(registry: MetricsRegistry): IndexerServiceMetrics {
  const registers = [registry];
  const labelNames = ["endpoint"] as const;
  return {
    requestsTotal: new Counter({
      name: "dynamo_kvindexer_requests_total",
      help: "Total indexer requests",
      labelNames,
      registers,
    }),
    requestDuration: new Histogram({
      name: "dynamo_kvindexer_request_duration_seconds",
      help: "Indexer request latency",
      labelNames,
      buckets: exponentialBuckets(0.0001, 4, 10),
      registers,
    }),
    errorsTotal: new Counter({
      name: "dynamo_kvindexer_errors_total",
      help: "Indexer error responses",
      labelNames,
      registers,
    }),
    models: new Gauge({
      name: "dynamo_kvindexer_models",
      help: "Number of active model indexers",
      registers,
    }),
    workers: new Gauge({
      name: "dynamo_kvindexer_workers",
      help: "Number of registered worker instances",
      registers,
    }),
  };
}
