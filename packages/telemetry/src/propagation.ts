// W3C trace context (traceparent/tracestate) into and out of plain header records (NATS) and Fetch Headers
// (Connect, hono). A private propagator is used so ids travel even when tracing was never initialised.
import {
  type Context,
  context,
  isSpanContextValid,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";

export type HeaderCarrier = Record<string, string> | Headers;

const w3c = new W3CTraceContextPropagator();

const headersGetter: TextMapGetter<Headers> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key) ?? undefined,
};

const headersSetter: TextMapSetter<Headers> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

// NATS header names are case-sensitive on the wire, but senders differ in case; match either way.
const recordGetter: TextMapGetter<Record<string, string>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const exact = carrier[key];
    if (exact !== undefined) return exact;
    const lower = key.toLowerCase();
    for (const [k, v] of Object.entries(carrier)) if (k.toLowerCase() === lower) return v;
    return undefined;
  },
};

const recordSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** Write the trace context of `ctx` (default: active) into `carrier`; returns the same carrier. */
export function injectTraceContext<C extends HeaderCarrier>(carrier: C, ctx: Context = context.active()): C {
  if (carrier instanceof Headers) w3c.inject(ctx, carrier, headersSetter);
  else w3c.inject(ctx, carrier, recordSetter);
  return carrier;
}

/** A context whose parent is the remote span described by `carrier` (or `base` unchanged if none). */
export function extractTraceContext(carrier: HeaderCarrier, base: Context = context.active()): Context {
  if (carrier instanceof Headers) return w3c.extract(base, carrier, headersGetter);
  return w3c.extract(base, carrier, recordGetter);
}

/** The trace id of the span in `ctx` (default: active), or undefined when there is none. */
export function traceIdOf(ctx: Context = context.active()): string | undefined {
  const sc = trace.getSpanContext(ctx);
  return sc !== undefined && isSpanContextValid(sc) ? sc.traceId : undefined;
}
