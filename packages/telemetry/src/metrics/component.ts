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

/** Transfer sizes: 64 KiB (a few tokens of a small model) to 16 GiB (a long prompt of a large model). */
export const KV_TRANSFER_BYTES_BUCKETS = Array.from({ length: 19 }, (_, i) => 65_536 * 2 ** i);

/** Transfer times: 100 µs (shared memory, a few blocks) to 2 minutes (a long prompt over slow TCP). */
export const KV_TRANSFER_SECONDS_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
  120,
];

/** Why a decode worker recomputed a prefill instead of using the transferred KV blocks. */
export type KvTransferFallbackReason = "invalid_params" | "unreachable" | "checksum" | "timeout" | "error";

/** Why a prefill worker let go of the KV blocks it held for a decode worker. */
export type KvReleaseReason = "released" | "lease_expired" | "replaced" | "shutdown";

/**
 * KV cache transfer between disaggregated prefill and decode workers. Dynamo leaves these to NIXL's own exporter
 * (nixl_bytes_transferred and the like), so Kvasir names them under dynamo_component_kv_transfer_*.
 */
export interface KvTransferMetrics {
  /** Decode side: bytes of each completed, checksum-verified pull. */
  bytes: Histogram<"transport">;
  /** Decode side: seconds from the start of a pull to its verified end. */
  seconds: Histogram<"transport">;
  /** Decode side: blocks pulled and verified against the prefill worker's checksums. */
  blocksTotal: Counter<"transport">;
  /** Decode side: prefills recomputed locally because the pull failed (vLLM's kv_load_failure_policy=recompute). */
  fallbacksTotal: Counter<"reason">;
  /** Prefill side: blocks held for decode workers to pull. */
  heldBlocks: Gauge<never>;
  /** Prefill side: holds ended, by why. */
  releasesTotal: Counter<"reason">;
}

export function createKvTransferMetrics(registry: MetricsRegistry): KvTransferMetrics {
  const registers = [registry];
  const name = (n: string) => `${P}kv_transfer_${n}`;
  return {
    bytes: new Histogram({
      name: name("bytes"),
      help: "Bytes of KV cache pulled from a prefill worker per request",
      labelNames: ["transport"],
      buckets: KV_TRANSFER_BYTES_BUCKETS,
      registers,
    }),
    seconds: new Histogram({
      name: name("seconds"),
      help: "Time to pull and verify a request's KV cache from a prefill worker",
      labelNames: ["transport"],
      buckets: KV_TRANSFER_SECONDS_BUCKETS,
      registers,
    }),
    blocksTotal: new Counter({
      name: name("blocks_total"),
      help: "KV blocks pulled from prefill workers and verified against their checksums",
      labelNames: ["transport"],
      registers,
    }),
    fallbacksTotal: new Counter({
      name: name("fallbacks_total"),
      help: "Prefills recomputed on the decode worker because the KV transfer failed",
      labelNames: ["reason"],
      registers,
    }),
    heldBlocks: new Gauge({
      name: name("held_blocks"),
      help: "KV blocks a prefill worker holds for decode workers to pull",
      registers,
    }),
    releasesTotal: new Counter({
      name: name("releases_total"),
      help: "Held KV block sets a prefill worker freed, by reason",
      labelNames: ["reason"],
      registers,
    }),
  };
}
