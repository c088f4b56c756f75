// Connect interceptors carrying W3C trace context: the client injects it into request headers, the server
// extracts it and runs the handler (including a streamed response) inside a server span. The parent travels
// explicitly in the call's context values (TRACE_CONTEXT), so neither side needs an async context manager.
import {
  type CallOptions,
  type ContextValues,
  createContextKey,
  createContextValues,
  type Interceptor,
  type StreamResponse,
  type UnaryResponse,
} from "@connectrpc/connect";
import { type Context, context, ROOT_CONTEXT, type Span, SpanKind, trace } from "@opentelemetry/api";
import { extractTraceContext, injectTraceContext } from "./propagation.js";
import { getTracer, recordSpanError } from "./tracing.js";

export const REQUEST_ID_HEADER = "x-request-id";

/**
 * The trace context of a call: set by the caller (traceCallOptions) as the client span's parent; set by the
 * server interceptor to the server span's context, for handlers to read from `HandlerContext.values`.
 */
export const TRACE_CONTEXT = createContextKey<Context | undefined>(undefined, {
  description: "trace context",
});

/** Call options making `parent` the parent of the call's client span (instead of the active context). */
export function traceCallOptions(parent: Context): Pick<CallOptions, "contextValues"> {
  return { contextValues: createContextValues().set(TRACE_CONTEXT, parent) };
}

/** The trace context a server handler runs in: the server span's, else the active one. */
export function traceContextOf(values: ContextValues): Context {
  return values.get(TRACE_CONTEXT) ?? context.active();
}

export function traceClientInterceptor(): Interceptor {
  return (next) => async (req) => {
    const parent = req.contextValues.get(TRACE_CONTEXT) ?? context.active();
    const span = getTracer().startSpan(
      `${req.service.typeName}/${req.method.name}`,
      { kind: SpanKind.CLIENT, attributes: rpcAttributes(req.service.typeName, req.method.name) },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    injectTraceContext(req.header, ctx);
    const requestId = req.header.get(REQUEST_ID_HEADER);
    if (requestId !== null) span.setAttribute("request_id", requestId);
    return finishWithResponse(span, ctx, req.signal, () => next(req));
  };
}

export function traceServerInterceptor(): Interceptor {
  return (next) => async (req) => {
    // Only the wire decides the parent: in-process transports must not leak the caller's context.
    const parent = extractTraceContext(req.header, ROOT_CONTEXT);
    const span = getTracer().startSpan(
      `${req.service.typeName}/${req.method.name}`,
      { kind: SpanKind.SERVER, attributes: rpcAttributes(req.service.typeName, req.method.name) },
      parent,
    );
    const requestId = req.header.get(REQUEST_ID_HEADER);
    if (requestId !== null) span.setAttribute("request_id", requestId);
    const ctx = trace.setSpan(parent, span);
    req.contextValues.set(TRACE_CONTEXT, ctx);
    return finishWithResponse(span, ctx, req.signal, () => next(req));
  };
}

function rpcAttributes(service: string, method: string) {
  return { "rpc.system": "connect_rpc", "rpc.service": service, "rpc.method": method };
}

// A unary call ends its span when the response arrives; a streamed one when the stream ends, fails or is
// abandoned (its signal aborts: Connect does not always forward `return()`), and every step of the stream runs
// inside the span's context.
async function finishWithResponse(
  span: Span,
  ctx: Context,
  signal: AbortSignal,
  call: () => Promise<UnaryResponse | StreamResponse>,
): Promise<UnaryResponse | StreamResponse> {
  let res: UnaryResponse | StreamResponse;
  try {
    res = await context.with(ctx, call);
  } catch (err) {
    recordSpanError(span, err);
    span.end();
    throw err;
  }
  if (!res.stream) {
    span.end();
    return res;
  }
  return { ...res, message: traceStream(res.message, span, ctx, signal) };
}

function traceStream<T>(
  source: AsyncIterable<T>,
  span: Span,
  ctx: Context,
  signal: AbortSignal,
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const it = source[Symbol.asyncIterator]();
      let ended = false;
      const end = (err?: unknown) => {
        if (ended) return;
        ended = true;
        if (err !== undefined) recordSpanError(span, err);
        signal.removeEventListener("abort", onAbort);
        span.end();
      };
      const onAbort = () => end(signal.reason ?? new Error("stream aborted"));
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
      return {
        async next() {
          try {
            const r = await context.with(ctx, () => it.next());
            if (r.done) end();
            return r;
          } catch (err) {
            end(err);
            throw err;
          }
        },
        async return(value?: unknown) {
          end();
          const ret = it.return;
          if (ret === undefined) return { done: true, value: undefined };
          return context.with(ctx, () => ret.call(it, value));
        },
        async throw(err?: unknown) {
          end(err);
          const thr = it.throw;
          if (thr === undefined) throw err;
          return context.with(ctx, () => thr.call(it, err));
        },
      };
    },
  };
}
