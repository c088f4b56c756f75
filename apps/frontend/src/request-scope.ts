import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { HttpBindings } from "@hono/node-server";
import { extractTraceContext, getTracer, type Logger, REQUEST_ID_HEADER } from "@kvasir/telemetry";
import {
  isSpanContextValid,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  type Context as TraceContext,
  trace,
} from "@opentelemetry/api";
import type { MiddlewareHandler } from "hono";
import { accessRecord } from "./access-log.js";
import type { InFlight } from "./inflight.js";
import { sentDirectly } from "./sse.js";

/** Per-request state the middleware sets up and the handlers use. */
export interface RequestScope {
  requestId: string;
  /** The HTTP server span; request spans hang from it. */
  span: Span;
  trace: TraceContext;
  log: Logger;
  /** Client disconnect. */
  signal: AbortSignal;
  /** The Node response, when served by @hono/node-server (streams are written to it directly). */
  outgoing: ServerResponse | undefined;
  /**
   * Called by a handler whose response outlives it (a stream): the scope then ends when the returned function
   * is called rather than when the handler returns.
   */
  keepOpen(): () => void;
}

/** Under @hono/node-server the Node request and response are bindings; in-process tests have none. */
export type AppEnv = { Bindings: Partial<HttpBindings>; Variables: { scope: RequestScope } };

/**
 * Sets up each API request's scope: the request id (`x-request-id`, generated when absent, echoed on the
 * response), the server span (continuing an incoming `traceparent`), a logger carrying the id, and drain
 * accounting.
 */
export function requestScope(log: Logger, inFlight: InFlight | undefined): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const requestId = c.req.header(REQUEST_ID_HEADER) || randomUUID();
    accessRecord(c.req.raw).requestId = requestId;
    const parent = extractTraceContext(c.req.raw.headers, ROOT_CONTEXT);
    const span = getTracer().startSpan(
      `${c.req.method} ${c.req.path}`,
      {
        kind: SpanKind.SERVER,
        attributes: { request_id: requestId, "http.request.method": c.req.method, "url.path": c.req.path },
      },
      parent,
    );
    // A request counts as in flight until its response is fully handed to the socket (so a drain never cuts
    // the tail of a stream); without a Node response (in-process tests), until the handler or stream ends.
    const endInFlight = inFlight?.begin();
    const outgoing = c.env?.outgoing;
    if (endInFlight && outgoing) outgoing.once("close", endInFlight);
    let kept = false;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      span.end();
      if (!outgoing) endInFlight?.();
    };
    // The trace ids are bound here: the frontend runs without an async context, so no span is "active".
    const { traceId, spanId } = span.spanContext();
    c.set("scope", {
      requestId,
      span,
      trace: trace.setSpan(parent, span),
      log: log.child(
        isSpanContextValid(span.spanContext())
          ? { request_id: requestId, trace_id: traceId, span_id: spanId }
          : { request_id: requestId },
      ),
      signal: c.req.raw.signal,
      outgoing,
      keepOpen: () => {
        kept = true;
        return end;
      },
    });
    try {
      await next();
    } finally {
      // A stream written to the socket already carries the id (and a 200).
      const direct = sentDirectly(c.res);
      if (!direct) c.res.headers.set(REQUEST_ID_HEADER, requestId);
      span.setAttribute("http.response.status_code", direct ? 200 : c.res.status);
      if (!kept) end();
    }
  };
}
