import { ROOT_CONTEXT, TraceFlags, trace } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { extractTraceContext, injectTraceContext, traceIdOf } from "./propagation.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID = "00f067aa0ba902b7";

// Propagation must work before (and without) initTracing, so these use a bare span context.
const remoteParent = trace.setSpan(
  ROOT_CONTEXT,
  trace.wrapSpanContext({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED }),
);

describe("trace context propagation", () => {
  it("writes a W3C traceparent into a header record and reads it back", () => {
    const headers: Record<string, string> = injectTraceContext({ "content-type": "x" }, remoteParent);
    expect(headers.traceparent).toBe(`00-${TRACE_ID}-${SPAN_ID}-01`);
    const ctx = extractTraceContext(headers, ROOT_CONTEXT);
    expect(traceIdOf(ctx)).toBe(TRACE_ID);
    expect(trace.getSpanContext(ctx)).toMatchObject({ spanId: SPAN_ID, isRemote: true });
  });

  it("reads a record whose header name arrived in another case", () => {
    const ctx = extractTraceContext({ Traceparent: `00-${TRACE_ID}-${SPAN_ID}-01` }, ROOT_CONTEXT);
    expect(traceIdOf(ctx)).toBe(TRACE_ID);
  });

  it("round-trips through Fetch Headers", () => {
    const headers = injectTraceContext(new Headers(), remoteParent);
    expect(headers.get("traceparent")).toBe(`00-${TRACE_ID}-${SPAN_ID}-01`);
    expect(traceIdOf(extractTraceContext(headers, ROOT_CONTEXT))).toBe(TRACE_ID);
  });

  it("injects nothing without a span and extracts nothing from garbage", () => {
    expect(injectTraceContext({}, ROOT_CONTEXT)).toEqual({});
    expect(traceIdOf(extractTraceContext({ traceparent: "00-zz-yy-01" }, ROOT_CONTEXT))).toBeUndefined();
    expect(traceIdOf(ROOT_CONTEXT)).toBeUndefined();
  });
});
