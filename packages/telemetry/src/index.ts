// Public surface of @kvasir/telemetry: structured logs, OpenTelemetry traces with W3C propagation, and
// Prometheus metrics under Dynamo's names.

/** An OpenTelemetry context, as the request path passes it explicitly. */
export type { Context as TraceContext } from "@opentelemetry/api";
export {
  REQUEST_ID_HEADER,
  TRACE_CONTEXT,
  traceCallOptions,
  traceClientInterceptor,
  traceContextOf,
  traceServerInterceptor,
} from "./connect.js";
export { createLogger, type LogFields, type Logger, type LoggerOptions, setLogLevel } from "./log.js";
export { LOG_LEVELS, type LogLevel, levelFromDynLog, parseLogLevel } from "./log-level.js";
export { exponentialBuckets, linearBuckets, logBuckets, logBucketsFromEnv } from "./metrics/buckets.js";
export {
  COMPONENT_REQUEST_DURATION_BUCKETS,
  type ComponentMetrics,
  createComponentMetrics,
  createKvStatsMetrics,
  createKvTransferMetrics,
  KV_TRANSFER_BYTES_BUCKETS,
  KV_TRANSFER_SECONDS_BUCKETS,
  type KvReleaseReason,
  type KvStatsMetrics,
  type KvTransferFallbackReason,
  type KvTransferMetrics,
} from "./metrics/component.js";
export {
  createFrontendMetrics,
  type FrontendEndpoint,
  type FrontendErrorType,
  type FrontendMetrics,
  type FrontendMetricsOptions,
  type FrontendPhase,
  type FrontendStage,
  type RequestStatus,
  type RequestType,
} from "./metrics/frontend.js";
export { createIndexerFallbackMetrics, type IndexerFallbackMetrics } from "./metrics/indexer-fallback.js";
export {
  createMetricsRegistry,
  type HierarchyIdentity,
  hierarchyLabels,
  METRICS_CONTENT_TYPE,
  type MetricsRegistry,
  mergedMetricsText,
  metricsText,
} from "./metrics/registry.js";
export {
  createIndexerServiceMetrics,
  createKvIndexMetrics,
  createRouterMetrics,
  type IndexerServiceMetrics,
  type RouterMetrics,
} from "./metrics/router.js";
export { type MetricSample, registerSamples } from "./metrics/sampled.js";
export { extractTraceContext, type HeaderCarrier, injectTraceContext, traceIdOf } from "./propagation.js";
export {
  flushTracing,
  getTracer,
  InMemorySpanExporter,
  initTracing,
  recordSpanError,
  type SpanExporter,
  shutdownTracing,
  TRACER_NAME,
  type TraceExportMode,
  type TracingInfo,
  type TracingOptions,
  type WithSpanOptions,
  withSpan,
} from "./tracing.js";
