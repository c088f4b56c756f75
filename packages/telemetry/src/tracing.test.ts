import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "./log.js";
import { extractTraceContext, injectTraceContext, traceIdOf } from "./propagation.js";
import { InMemorySpanExporter, initTracing, shutdownTracing, withSpan } from "./tracing.js";

afterEach(async () => {
  await shutdownTracing();
});

describe("initTracing", () => {
  it("exports nothing without an OTLP endpoint but still creates spans with ids", async () => {
    const info = initTracing({ serviceName: "kvasir-router", env: {} });
    expect(info).toEqual({ serviceName: "kvasir-router", export: "none" });
    const traceId = await withSpan("route", {}, (span) => span.spanContext().traceId);
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it("installs no async context manager unless asked: parents are passed explicitly", async () => {
    const exporter = new InMemorySpanExporter();
    initTracing({ serviceName: "t", exporter, env: {} });
    const inner = await withSpan("outer", {}, async (outer) => {
      await new Promise((resolve) => setImmediate(resolve));
      // Without the context manager nothing is active, not even inside withSpan.
      expect(trace.getSpan(context.active())).toBeUndefined();
      return withSpan("inner", {}, (span) => span, { parent: trace.setSpan(context.active(), outer) });
    });
    const outer = exporter.getFinishedSpans().find((s) => s.name === "outer");
    expect(inner.spanContext().traceId).toBe(outer?.spanContext().traceId);
    expect(exporter.getFinishedSpans().find((s) => s.name === "inner")?.parentSpanContext?.spanId).toBe(
      outer?.spanContext().spanId,
    );
  });

  it("installs the async context manager when asked, KVASIR_TRACE_ASYNC_CONTEXT winning", async () => {
    for (const [asyncContext, env, active] of [
      [true, {}, true],
      [false, { KVASIR_TRACE_ASYNC_CONTEXT: "true" }, true],
      [true, { KVASIR_TRACE_ASYNC_CONTEXT: "false" }, false],
    ] as const) {
      initTracing({ serviceName: "t", exporter: new InMemorySpanExporter(), env, asyncContext });
      const seen = await withSpan("step", {}, async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return traceIdOf();
      });
      expect(seen !== undefined).toBe(active);
      await shutdownTracing();
    }
  });

  it("chooses OTLP/HTTP from the endpoint variables, the traces one first", () => {
    const base = initTracing({
      serviceName: "s",
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318/" },
    });
    expect(base).toMatchObject({ export: "otlp", url: "http://127.0.0.1:4318/v1/traces" });
  });

  it("prefers OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and OTEL_SERVICE_NAME", () => {
    const info = initTracing({
      serviceName: "code-name",
      env: {
        OTEL_SERVICE_NAME: "env-name",
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://127.0.0.1:9999/traces",
      },
    });
    expect(info).toEqual({ serviceName: "env-name", export: "otlp", url: "http://127.0.0.1:9999/traces" });
  });

  it("honours OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED", async () => {
    expect(
      initTracing({
        serviceName: "s",
        env: { OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://x" },
      }).export,
    ).toBe("none");
    await shutdownTracing();
    expect(initTracing({ serviceName: "s", env: { OTEL_SDK_DISABLED: "true" } }).export).toBe("disabled");
  });

  it("is idempotent until shutdown", async () => {
    const first = initTracing({ serviceName: "a", env: {} });
    expect(initTracing({ serviceName: "b", env: {} })).toBe(first);
    await shutdownTracing();
    expect(initTracing({ serviceName: "b", env: {} }).serviceName).toBe("b");
  });

  it("puts service.name and OTEL_RESOURCE_ATTRIBUTES on exported spans", async () => {
    const exporter = new InMemorySpanExporter();
    initTracing({
      serviceName: "kvasir-worker",
      exporter,
      env: { OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test,team=a%20b" },
    });
    await withSpan("generate", { request_id: "r1" }, () => undefined);
    const [span] = exporter.getFinishedSpans();
    expect(span?.resource.attributes).toMatchObject({
      "service.name": "kvasir-worker",
      "deployment.environment": "test",
      team: "a b",
    });
    expect(span?.attributes).toEqual({ request_id: "r1" });
  });
});

describe("withSpan", () => {
  it("nests spans in one trace and marks a throw as an error", async () => {
    const exporter = new InMemorySpanExporter();
    initTracing({ serviceName: "t", exporter, env: {}, asyncContext: true });
    await expect(
      withSpan("outer", {}, () => withSpan("inner", { step: 1 }, () => Promise.reject(new Error("nope")))),
    ).rejects.toThrow("nope");
    const spans = exporter.getFinishedSpans();
    const inner = spans.find((s) => s.name === "inner");
    const outer = spans.find((s) => s.name === "outer");
    expect(inner?.spanContext().traceId).toBe(outer?.spanContext().traceId);
    expect(inner?.parentSpanContext?.spanId).toBe(outer?.spanContext().spanId);
    expect(inner?.status).toMatchObject({ code: SpanStatusCode.ERROR, message: "nope" });
    expect(inner?.events.map((e) => e.name)).toContain("exception");
  });

  it("continues a trace received in NATS headers", async () => {
    const exporter = new InMemorySpanExporter();
    initTracing({ serviceName: "t", exporter, env: {}, asyncContext: true });
    const headers: Record<string, string> = {};
    const sentTraceId = await withSpan("publish", {}, () => {
      injectTraceContext(headers);
      return traceIdOf();
    });
    const parent = extractTraceContext(headers);
    const receivedTraceId = await withSpan("consume", {}, () => traceIdOf(), { parent });
    expect(receivedTraceId).toBe(sentTraceId);
    const consume = exporter.getFinishedSpans().find((s) => s.name === "consume");
    const publish = exporter.getFinishedSpans().find((s) => s.name === "publish");
    expect(consume?.parentSpanContext?.spanId).toBe(publish?.spanContext().spanId);
  });

  it("lets log lines carry the active trace and span ids", async () => {
    initTracing({ serviceName: "t", exporter: new InMemorySpanExporter(), env: {}, asyncContext: true });
    const lines: string[] = [];
    const log = createLogger("worker", {}, { env: {}, sink: (l) => lines.push(l) });
    const ids = await withSpan("step", {}, () => {
      log.info("inside");
      return trace.getSpanContext(context.active());
    });
    log.info("outside");
    const [inside, outside] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(inside).toMatchObject({ trace_id: ids?.traceId, span_id: ids?.spanId });
    expect(outside).not.toHaveProperty("trace_id");
  });
});
