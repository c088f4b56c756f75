// A router's view of the standalone indexers it asks (`--use-remote-indexer`): when none answers it routes with
// its own approximate index, and says so here.
import { Counter, Gauge } from "prom-client";
import type { MetricsRegistry } from "./registry.js";

export interface IndexerFallbackMetrics {
  /** 1 while lookups are answered by the router's approximate index (no standalone indexer answers). */
  active: Gauge<never>;
  /** Lookups answered by the approximate index. */
  lookups: Counter<never>;
  /** Failed calls to a standalone indexer (each indexer tried counts once). */
  errors: Counter<never>;
}

export function createIndexerFallbackMetrics(registry: MetricsRegistry): IndexerFallbackMetrics {
  const registers = [registry];
  return {
    active: new Gauge({
      name: "dynamo_component_router_indexer_fallback",
      help: "1 while the router answers KV overlap lookups from its own approximate index because no standalone indexer answers",
      registers,
    }),
    lookups: new Counter({
      name: "dynamo_component_router_indexer_fallback_lookups_total",
      help: "KV overlap lookups answered by the router's approximate index instead of a standalone indexer",
      registers,
    }),
    errors: new Counter({
      name: "dynamo_component_router_indexer_errors_total",
      help: "Failed FindMatches calls to standalone indexers",
      registers,
    }),
  };
}
