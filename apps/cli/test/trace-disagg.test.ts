// A disaggregated request is one trace: the frontend's prefill and decode legs and the decode worker's KV pull.

import { parseFlags } from "@kvasir/runtime";
import { InMemorySpanExporter, initTracing, shutdownTracing } from "@kvasir/telemetry";
import { waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Serving, serveCommand, start } from "../src/serve.js";

const exporter = new InMemorySpanExporter();
let serving: Serving;

beforeAll(async () => {
  // Installed before the apps start, so theirs (idempotent) keeps this exporter.
  initTracing({ serviceName: "kvasir-trace-disagg-test", exporter });
  const argv = ["--http-host", "127.0.0.1", "--http-port", "0", "--namespace", "trace-disagg"];
  argv.push("--prefill-workers", "1", "--decode-workers", "1", "--kv-bytes-per-token", "1024");
  serving = await start(
    serveCommand.toConfig(parseFlags(serveCommand.flags, [...argv, "--speedup-ratio", "100"], {})),
  );
});

afterAll(async () => {
  await serving?.stop();
  await shutdownTracing();
});

it("puts the prefill leg, the KV transfer and the decode leg of one request in one trace", async () => {
  const res = await fetch(`${serving.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-request-id": "trace-disagg" },
    body: JSON.stringify({
      model: "Qwen/Qwen3-0.6B",
      prompt: Array.from({ length: 100 }, (_, i) => 1000 + i),
      max_tokens: 4,
      ignore_eos: true,
    }),
  });
  expect(res.status).toBe(200);
  await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === "kv_transfer"), {
    timeoutMs: 5000,
    message: "the decode worker's kv_transfer span",
  });
  const spans = exporter.getFinishedSpans();
  const root = spans.find(
    (s) => s.name === "POST /v1/completions" && s.attributes.request_id === "trace-disagg",
  );
  expect(root).toBeDefined();
  const inTrace = spans
    .filter((s) => s.spanContext().traceId === root?.spanContext().traceId)
    .map((s) => s.name);
  for (const name of ["prefill", "decode", "kv_transfer", "generate"]) expect(inTrace).toContain(name);
});
