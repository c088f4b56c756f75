// `kvasir worker --disaggregation-mode prefill|decode` processes are seen by `kvasir frontend` (file discovery):
// their model is listed, /health names their instances, and decode workers serve whole requests while the
// frontend does not disaggregate yet. A model with only prefill workers is listed but answers a clear 503.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chat,
  complete,
  expectServed,
  health,
  kvasir,
  MODEL,
  modelIds,
  startWorker,
  stopAll,
  type WorkerProcess,
  waitForInstances,
} from "./kvasir-processes.js";

const NAMESPACE = "disagg-pools-test";
// Served by a prefill worker alone: listed, but nothing can run a whole request for it.
const PREFILL_ONLY = "prefill-only/model";

let dir: string;
let prefill: WorkerProcess;
let decode: WorkerProcess;
let lonePrefill: WorkerProcess;
let frontend: Awaited<ReturnType<typeof kvasir>> | undefined;
let baseUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kvasir-disagg-"));
  const common = ["--discovery-backend", "file", "--discovery-file", join(dir, "discovery.json")];
  common.push("--namespace", NAMESPACE);
  [prefill, decode, lonePrefill] = await Promise.all([
    startWorker([...common, "--disaggregation-mode", "prefill"]),
    startWorker([...common, "--disaggregation-mode", "decode"]),
    startWorker([...common, "--disaggregation-mode", "prefill", "--served-model-name", PREFILL_ONLY]),
  ]);
  const port = await freePort();
  frontend = await kvasir(
    ["frontend", ...common, "--http-host", "127.0.0.1", "--http-port", String(port)],
    /frontend ready/,
  );
  baseUrl = `http://127.0.0.1:${port}`;
  await waitForInstances(baseUrl, [prefill.instanceId, decode.instanceId]);
  await waitForInstances(baseUrl, [lonePrefill.instanceId], { model: PREFILL_ONLY });
}, 45_000);

afterAll(async () => {
  await stopAll([frontend, prefill?.process, decode?.process, lonePrefill?.process]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("prefill and decode workers seen by kvasir frontend", () => {
  it("lists the models of the prefill and decode pools, with their instances on /health", async () => {
    const ids = await modelIds(baseUrl);
    expect(ids).toContain(MODEL);
    expect(ids).toContain(PREFILL_ONLY);
    const { status, models } = await health(baseUrl);
    expect(status).toBe("healthy");
    expect(models[MODEL]?.instances.sort()).toEqual([prefill.instanceId, decode.instanceId].sort());
    expect(models[PREFILL_ONLY]?.instances).toEqual([lonePrefill.instanceId]);
  });

  it("serves whole requests on the decode worker", async () => {
    for (let i = 0; i < 3; i++) {
      expect(expectServed(await complete(baseUrl, `prompt ${i}`))).toBe(decode.instanceId);
      expect(expectServed(await chat(baseUrl, `question ${i}`))).toBe(decode.instanceId);
    }
  });

  it("answers a request for a prefill-only model with a 503 in OpenAI's shape", async () => {
    for (const result of [
      await complete(baseUrl, "hello", { model: PREFILL_ONLY }),
      await chat(baseUrl, "hello", { model: PREFILL_ONLY }),
    ]) {
      expect(result.status, JSON.stringify(result.body)).toBe(503);
      expect(result.body.error).toMatchObject({ type: "service_unavailable", code: "no_worker_available" });
      expect(result.body.error?.message).toContain(PREFILL_ONLY);
    }
    // A streamed request is refused the same way, before any event is sent.
    const res = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: PREFILL_ONLY,
        messages: [{ role: "user", content: "hi" }],
        stream: true,
      }),
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    expect(await res.json()).toMatchObject({
      error: { type: "service_unavailable", code: "no_worker_available" },
    });
  });
});
