// Worker-side (component) metric families with Dynamo's names (dynamo_component_*). The hierarchy labels
// dynamo_namespace / dynamo_component (and worker_id) come from the registry's default labels.
import { Counter, Gauge, Histogram } from "prom-client";
import type { MetricsRegistry } from "./registry.js";

/** Work-handler request buckets: sub-second resolution up to ten-minute generations. */
export const COMPONENT_REQUEST_DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600,
];

export interface ComponentMetrics {
  requestsTotal: Counter<"dynamo_endpoint">;
  requestDuration: Histogram<"dynamo_endpoint">;
  inflightRequests: Gauge<"dynamo_endpoint">;
  requestBytesTotal: Counter<"dynamo_endpoint">;
  responseBytesTotal: Counter<"dynamo_endpoint">;
  errorsTotal: Counter<"dynamo_endpoint" | "error_type">;
  uptimeSeconds: Gauge<never>;
}

const P = "dynamo_component_";

export function createComponentMetrics(
  registry: MetricsRegistry,
  startedAtMs: number = Date.now(),
): ComponentMetrics {
  const registers = [registry];
  const endpoint = ["dynamo_endpoint"] as const;
  return {
    requestsTotal: new Counter({
      name: `${P}requests_total`,
      help: "Total number of requests processed by work handler",
      labelNames: endpoint,
      registers,
    }),
    requestDuration: new Histogram({
      name: `${P}request_duration_seconds`,
      help: "Time spent processing requests by work handler",
      labelNames: endpoint,
      buckets: COMPONENT_REQUEST_DURATION_BUCKETS,
      registers,
    }),
    inflightRequests: new Gauge({
      name: `${P}inflight_requests`,
      help: "Number of requests currently being processed by work handler",
      labelNames: endpoint,
      registers,
    }),
    requestBytesTotal: new Counter({
      name: `${P}request_bytes_total`,
      help: "Total number of bytes received in requests by work handler",
      labelNames: endpoint,
      registers,
    }),
    responseBytesTotal: new Counter({
      name: `${P}response_bytes_total`,
      help: "Total number of bytes sent in responses by work handler",
      labelNames: endpoint,
      registers,
    }),
    errorsTotal: new Counter({
      name: `${P}errors_total`,
      help: "Total number of errors in work handler processing",
      labelNames: ["dynamo_endpoint", "error_type"],
      registers,
    }),
    uptimeSeconds: new Gauge({
      name: `${P}uptime_seconds`,
      help: "Total uptime of the DistributedRuntime in seconds",
      registers,
      collect() {
        this.set((Date.now() - startedAtMs) / 1000);
      },
    }),
  };
}

export interface KvStatsMetrics {
  activeBlocks: Gauge<never>;
  totalBlocks: Gauge<never>;
  /** 0.0-1.0 despite the name, as in Dynamo. */
  gpuCacheUsagePercent: Gauge<never>;
  gpuPrefixCacheHitRate: Gauge<never>;
}

/** KV cache statistics a worker publishes (dynamo_component_kvstats_*). */
export function createKvStatsMetrics(registry: MetricsRegistry): KvStatsMetrics {
  const registers = [registry];
  const gauge = (name: string, help: string) => new Gauge({ name: `${P}kvstats_${name}`, help, registers });
  return {
    activeBlocks: gauge("active_blocks", "Number of active KV cache blocks currently in use"),
    totalBlocks: gauge("total_blocks", "Total number of KV cache blocks available"),
    gpuCacheUsagePercent: gauge("gpu_cache_usage_percent", "GPU cache usage as a percentage (0.0-1.0)"),
    gpuPrefixCacheHitRate: gauge(
      "gpu_prefix_cache_hit_rate",
      "GPU prefix cache hit rate as a percentage (0.0-1.0)",
    ),
  };
}
