// model-express's metrics. Dynamo has none for ModelExpress, so the names are Kvasir's, under Dynamo's
// hierarchy labels (dynamo_namespace, dynamo_component).
import type { MetricsRegistry } from "@kvasir/telemetry";
import { Counter, Gauge } from "prom-client";

export interface ModelExpressMetrics {
  /** Bytes by where they were served from: `source` (read from the source into the cache), `cache` (sent to workers). */
  bytes: Counter<"from">;
  /** ResolveModel answers: `hit` (whole in the cache), `miss` (fetched from the source), `error`. */
  requests: Counter<"result">;
  /** Bytes read from the source per second during the last download. */
  sourceRate: Gauge;
  cacheBytes: Gauge;
  evictions: Counter;
  /** Peers registered as holding some model. */
  peers: Gauge;
}

export function createModelExpressMetrics(registry: MetricsRegistry): ModelExpressMetrics {
  return {
    bytes: new Counter({
      name: "kvasir_model_express_bytes_total",
      help: "Model file bytes by origin: read from the source, or served from the cache",
      labelNames: ["from"],
      registers: [registry],
    }),
    requests: new Counter({
      name: "kvasir_model_express_requests_total",
      help: "ResolveModel requests by result: hit (cached), miss (fetched from the source), error",
      labelNames: ["result"],
      registers: [registry],
    }),
    sourceRate: new Gauge({
      name: "kvasir_model_express_source_bytes_per_second",
      help: "Transfer rate from the source during the last download",
      registers: [registry],
    }),
    cacheBytes: new Gauge({
      name: "kvasir_model_express_cache_bytes",
      help: "Bytes of model files in the cache",
      registers: [registry],
    }),
    evictions: new Counter({
      name: "kvasir_model_express_evictions_total",
      help: "Models evicted from the cache (least recently used, not in use)",
      registers: [registry],
    }),
    peers: new Gauge({
      name: "kvasir_model_express_peers",
      help: "Workers registered as holding a model and serving it to peers",
      registers: [registry],
    }),
  };
}
