// OpenTelemetry tracing setup, configured like every OTel SDK by the standard OTEL_* environment variables.
import {
  type Attributes,
  type Context,
  context,
  propagation,
  type Span,
  type SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";

export type { SpanExporter } from "@opentelemetry/sdk-trace-node";
export { InMemorySpanExporter } from "@opentelemetry/sdk-trace-node";

export const TRACER_NAME = "kvasir";

export interface TracingOptions {
  /** service.name unless OTEL_SERVICE_NAME says otherwise. */
  serviceName: string;
  /** Export here instead of what the environment says, span by span (tests pass an InMemorySpanExporter). */
  exporter?: SpanExporter;
  /** Extra resource attributes, e.g. service.instance.id. */
  resourceAttributes?: Attributes;
  env?: Record<string, string | undefined>;
  /**
   * Install the AsyncLocalStorage context manager, so `context.active()` follows async calls. Off by default:
   * its promise hooks cost every promise of the process (8-10 µs per streamed token in the frontend), and the
   * request path passes trace contexts explicitly. KVASIR_TRACE_ASYNC_CONTEXT=true|false overrides it.
   */
  asyncContext?: boolean;
}

/** How spans leave the process: "none" still creates spans so ids propagate; "disabled" is OTEL_SDK_DISABLED. */
export type TraceExportMode = "otlp" | "console" | "custom" | "none" | "disabled";

export interface TracingInfo {
  serviceName: string;
  export: TraceExportMode;
  /** OTLP/HTTP traces URL when export is "otlp". */
  url?: string;
}

let active: { provider: NodeTracerProvider | undefined; info: TracingInfo } | undefined;

/**
 * Install the global tracer provider and W3C propagator (and, if asked, the AsyncLocalStorage context manager).
 * Idempotent: later calls return the first call's result until shutdownTracing().
 */
export function initTracing(options: TracingOptions): TracingInfo {
  if (active !== undefined) return active.info;
  const env = options.env ?? process.env;
  const envAttributes = parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES);
  // Operators' settings win over the code's default name, OTEL_SERVICE_NAME first (as the OTel spec orders them).
  const envServiceName = envAttributes[ATTR_SERVICE_NAME];
  const serviceName =
    nonEmpty(env.OTEL_SERVICE_NAME) ??
    (typeof envServiceName === "string" ? nonEmpty(envServiceName) : undefined) ??
    options.serviceName;
  if (isTrue(env.OTEL_SDK_DISABLED)) {
    active = { provider: undefined, info: { serviceName, export: "disabled" } };
    return active.info;
  }
  const chosen = options.exporter
    ? { mode: "custom" as const, exporter: options.exporter }
    : exporterFromEnv(env);
  const processors: SpanProcessor[] = [];
  if (chosen.exporter !== undefined) {
    // A caller-supplied exporter is exported synchronously so tests see spans as soon as they end.
    processors.push(
      chosen.mode === "custom" || chosen.mode === "console"
        ? new SimpleSpanProcessor(chosen.exporter)
        : new BatchSpanProcessor(chosen.exporter),
    );
  }
  const resource = defaultResource().merge(
    resourceFromAttributes({
      ...options.resourceAttributes,
      ...envAttributes,
      [ATTR_SERVICE_NAME]: serviceName,
    }),
  );
  const provider = new NodeTracerProvider({ resource, spanProcessors: processors });
  // null: no context manager, so context.with only calls its function and context.active() is the root.
  provider.register({ contextManager: asyncContextWanted(options, env) ? undefined : null });
  const info: TracingInfo = { serviceName, export: chosen.mode };
  if (chosen.url !== undefined) info.url = chosen.url;
  active = { provider, info };
  return info;
}

/** Flush pending spans, shut the provider down and unregister the globals, so initTracing can run again. */
export async function shutdownTracing(): Promise<void> {
  const current = active;
  if (current === undefined) return;
  active = undefined;
  try {
    await current.provider?.shutdown();
  } finally {
    if (current.provider !== undefined) {
      trace.disable();
      context.disable();
      propagation.disable();
    }
  }
}

export async function flushTracing(): Promise<void> {
  await active?.provider?.forceFlush();
}

/** The global tracer; a no-op one (still propagating remote parents) before initTracing. */
export function getTracer(name: string = TRACER_NAME): Tracer {
  return trace.getTracer(name);
}

export interface WithSpanOptions {
  kind?: SpanKind;
  /** Parent context; default the active one (the root unless the async context manager is installed). */
  parent?: Context;
}

/**
 * Run `fn` with a new span that ends when `fn` settles; a throw marks the span as an error. The span is the
 * active one inside `fn` only with the async context manager: pass `parent` explicitly.
 */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T> | T,
  options: WithSpanOptions = {},
): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = getTracer().startSpan(name, { kind: options.kind, attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    recordSpanError(span, err);
    throw err;
  } finally {
    span.end();
  }
}

export function recordSpanError(span: Span, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err));
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

interface ChosenExporter {
  mode: TraceExportMode;
  exporter?: SpanExporter;
  url?: string;
}

// OTEL_TRACES_EXPORTER picks the exporter; unset, OTLP is used only when an OTLP endpoint is configured.
function exporterFromEnv(env: Record<string, string | undefined>): ChosenExporter {
  const names = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "");
  if (names.includes("none")) return { mode: "none" };
  if (names.includes("console")) return { mode: "console", exporter: new ConsoleSpanExporter() };
  const tracesEndpoint = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const baseEndpoint = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (!names.includes("otlp") && tracesEndpoint === undefined && baseEndpoint === undefined) {
    return { mode: "none" };
  }
  const url =
    tracesEndpoint ??
    (baseEndpoint !== undefined
      ? `${baseEndpoint.replace(/\/+$/, "")}/v1/traces`
      : "http://localhost:4318/v1/traces");
  return { mode: "otlp", exporter: new OTLPTraceExporter({ url }), url };
}

// OTEL_RESOURCE_ATTRIBUTES is `key=value,key=value` with percent-encoded values.
function parseResourceAttributes(spec: string | undefined): Attributes {
  const attrs: Attributes = {};
  if (spec === undefined) return attrs;
  for (const pair of spec.split(",")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) continue;
    const key = pair.slice(0, eq).trim();
    try {
      attrs[key] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      attrs[key] = pair.slice(eq + 1).trim();
    }
  }
  return attrs;
}

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v === undefined || v === "" ? undefined : v;
}

function asyncContextWanted(options: TracingOptions, env: Record<string, string | undefined>): boolean {
  const setting = env.KVASIR_TRACE_ASYNC_CONTEXT?.trim().toLowerCase();
  if (setting === "true") return true;
  if (setting === "false") return false;
  return options.asyncContext ?? false;
}

function isTrue(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === "true";
}
