// One trace per request across frontend and worker, checked with an in-memory exporter (in-process composition).

import { parseFlags } from "@kvasir/runtime";
import { InMemorySpanExporter, initTracing, shutdownTracing } from "@kvasir/telemetry";
import { waitFor } from "@kvasir/testing";
import { SpanKind } from "@opentelemetry/api";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Serving, serveCommand, start } from "../src/serve.js";

const exporter = new InMemorySpanExporter();
let serving: Serving;

beforeAll(async () => {
  // Installed before the apps start, so theirs (idempotent) keeps this exporter.
  initTracing({ serviceName: "kvasir-trace-test", exporter });
  const argv = [
    "--http-host",
    "127.0.0.1",
    "--http-port",
    "0",
    "--namespace",
    "trace-test",
    "--workers",
    "1",
  ];
  serving = await start(
    serveCommand.toConfig(parseFlags(serveCommand.flags, [...argv, "--speedup-ratio", "100"], {})),
  );
});

afterAll(async () => {
  await serving?.stop();
  await shutdownTracing();
});

it("puts the frontend's and the worker's spans of one request in one trace", async () => {
  const res = await fetch(`${serving.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-request-id": "trace-me" },
    body: JSON.stringify({
      model: "Qwen/Qwen3-0.6B",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 4,
    }),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("x-request-id")).toBe("trace-me");
  const names = ["POST /v1/chat/completions", "preprocess", "route", "generate"];
  const rpc = "kvasir.worker.v1.WorkerService/Generate";
  // The client span (frontend) and the server span (worker) of the Generate call.
  await waitFor(() => exporter.getFinishedSpans().filter((s) => s.name === rpc).length >= 2, {
    timeoutMs: 5000,
    message: "client and server spans of WorkerService/Generate",
  });
  const spans = exporter.getFinishedSpans();
  const root = spans.find((s) => s.name === names[0] && s.attributes.request_id === "trace-me");
  expect(root).toBeDefined();
  const traceId = root?.spanContext().traceId;
  const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
  for (const name of names) expect(inTrace.map((s) => s.name)).toContain(name);
  const rpcKinds = inTrace.filter((s) => s.name === rpc).map((s) => s.kind);
  expect(rpcKinds).toContain(SpanKind.CLIENT);
  expect(rpcKinds).toContain(SpanKind.SERVER);
});
