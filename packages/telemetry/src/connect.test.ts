import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { create, GenerateResponseSchema, WorkerService } from "@kvasir/protocol";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  REQUEST_ID_HEADER,
  traceCallOptions,
  traceClientInterceptor,
  traceContextOf,
  traceServerInterceptor,
} from "./connect.js";
import { traceIdOf } from "./propagation.js";
import { getTracer, InMemorySpanExporter, initTracing, shutdownTracing, withSpan } from "./tracing.js";

let exporter: InMemorySpanExporter;

beforeEach(() => {
  exporter = new InMemorySpanExporter();
  initTracing({ serviceName: "connect-test", exporter, env: {}, asyncContext: true });
});

afterEach(async () => {
  await shutdownTracing();
});

// An in-memory worker whose Generate streams two messages and reports the trace it ran under.
function workerClient(seen: { traceIds: (string | undefined)[]; traceparent?: string | null }, fail = false) {
  const transport = createRouterTransport(
    (router) => {
      router.service(WorkerService, {
        async *generate(req, ctx) {
          seen.traceparent = ctx.requestHeader.get("traceparent");
          seen.traceIds.push(traceIdOf());
          yield create(GenerateResponseSchema, { tokenIds: [1] });
          await new Promise((resolve) => setImmediate(resolve));
          seen.traceIds.push(traceIdOf(context.active()));
          if (fail) throw new ConnectError("engine died", Code.Unavailable);
          yield create(GenerateResponseSchema, { tokenIds: [2, req.tokenIds.length] });
        },
      });
    },
    {
      router: { interceptors: [traceServerInterceptor()] },
      transport: { interceptors: [traceClientInterceptor()] },
    },
  );
  return createClient(WorkerService, transport);
}

describe("Connect trace interceptors", () => {
  it("put the client span, the server span and the handler in one trace", async () => {
    const seen: { traceIds: (string | undefined)[]; traceparent?: string | null } = { traceIds: [] };
    const client = workerClient(seen);
    const { rootTraceId, tokens } = await withSpan("http POST /v1/chat/completions", {}, async () => {
      const tokens: number[] = [];
      for await (const msg of client.generate(
        { requestId: "req-7", tokenIds: [5, 6, 7] },
        { headers: { [REQUEST_ID_HEADER]: "req-7" } },
      )) {
        tokens.push(...msg.tokenIds);
      }
      return { rootTraceId: traceIdOf(), tokens };
    });
    expect(tokens).toEqual([1, 2, 3]);

    const spans = exporter.getFinishedSpans();
    const clientSpan = spans.find((s) => s.kind === SpanKind.CLIENT);
    const serverSpan = spans.find((s) => s.kind === SpanKind.SERVER);
    expect(clientSpan?.name).toBe("kvasir.worker.v1.WorkerService/Generate");
    expect(clientSpan?.spanContext().traceId).toBe(rootTraceId);
    expect(serverSpan?.spanContext().traceId).toBe(rootTraceId);
    expect(serverSpan?.parentSpanContext?.spanId).toBe(clientSpan?.spanContext().spanId);
    expect(serverSpan?.parentSpanContext?.isRemote).toBe(true);
    expect(seen.traceparent).toBe(`00-${rootTraceId}-${clientSpan?.spanContext().spanId}-01`);
    expect(serverSpan?.attributes).toMatchObject({
      request_id: "req-7",
      "rpc.system": "connect_rpc",
      "rpc.service": "kvasir.worker.v1.WorkerService",
      "rpc.method": "Generate",
    });
    // The handler's generator body, before and after an await, runs inside the server span.
    expect(seen.traceIds).toEqual([rootTraceId, rootTraceId]);
  });

  it("records a failed stream as an error on both sides, in one trace", async () => {
    const seen = { traceIds: [] as (string | undefined)[] };
    const client = workerClient(seen, true);
    const consume = async () => {
      for await (const _ of client.generate({ requestId: "r", tokenIds: [] })) {
        // drain
      }
    };
    await expect(consume()).rejects.toThrow("engine died");
    const serverSpan = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER);
    const clientSpan = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT);
    expect(trace.getActiveSpan()).toBeUndefined();
    expect(serverSpan?.spanContext().traceId).toBe(clientSpan?.spanContext().traceId);
    expect(seen.traceIds[0]).toBe(serverSpan?.spanContext().traceId);
    expect(serverSpan?.status.code).toBe(SpanStatusCode.ERROR);
    expect(clientSpan?.status.code).toBe(SpanStatusCode.ERROR);
    expect(serverSpan?.attributes).not.toHaveProperty("request_id");
  });
});

describe("Connect trace interceptors without an async context manager", () => {
  beforeEach(async () => {
    await shutdownTracing();
    exporter = new InMemorySpanExporter();
    initTracing({ serviceName: "connect-test", exporter, env: {} });
  });

  it("take the parent from the call options and hand the server span to the handler", async () => {
    const seen: { handler?: string; active?: string; traceparent?: string | null } = {};
    const transport = createRouterTransport(
      (router) => {
        router.service(WorkerService, {
          async *generate(_req, ctx) {
            seen.traceparent = ctx.requestHeader.get("traceparent");
            await new Promise((resolve) => setImmediate(resolve));
            seen.handler = trace.getSpanContext(traceContextOf(ctx.values))?.spanId;
            seen.active = traceIdOf(context.active());
            yield create(GenerateResponseSchema, { tokenIds: [1] });
          },
        });
      },
      {
        router: { interceptors: [traceServerInterceptor()] },
        transport: { interceptors: [traceClientInterceptor()] },
      },
    );
    const client = createClient(WorkerService, transport);
    const root = getTracer().startSpan("POST /v1/completions");
    const parent = trace.setSpan(context.active(), root);
    for await (const _ of client.generate({ requestId: "r" }, traceCallOptions(parent))) {
      // drain
    }
    root.end();
    const spans = exporter.getFinishedSpans();
    const clientSpan = spans.find((s) => s.kind === SpanKind.CLIENT);
    const serverSpan = spans.find((s) => s.kind === SpanKind.SERVER);
    const traceId = root.spanContext().traceId;
    expect(clientSpan?.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(seen.traceparent).toBe(`00-${traceId}-${clientSpan?.spanContext().spanId}-01`);
    expect(serverSpan?.spanContext().traceId).toBe(traceId);
    expect(seen.handler).toBe(serverSpan?.spanContext().spanId);
    // Nothing is active: the per-message work runs without async context propagation.
    expect(seen.active).toBeUndefined();
  });
});
