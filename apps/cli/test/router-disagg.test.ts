// RouterService.Generate serves a model disaggregated when it has prefill workers beside decode workers: a gRPC
// client gets the decode worker's stream, and the prompt was prefilled on the prefill worker and pulled over.

import { DEFAULT_KV_ROUTER_SETTINGS } from "@kvasir/kv";
import { RouterService } from "@kvasir/protocol";
import { type Router, start as startRouter } from "@kvasir/router";
import {
  createClient,
  createDiscovery,
  createEventPlane,
  type Discovery,
  type EventPlane,
} from "@kvasir/runtime";
import { metricsText } from "@kvasir/telemetry";
import { start as startWorker, type Worker, type WorkerConfig } from "@kvasir/worker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const NAMESPACE = "router-disagg";
const runtime = {
  namespace: NAMESPACE,
  discovery: { backend: "memory" as const },
  eventPlane: { backend: "memory" as const },
  logLevel: "error" as const,
};

let discovery: Discovery;
let events: EventPlane;
const workers: Worker[] = [];
let router: Router;

function workerConfig(mode: WorkerConfig["disaggregationMode"]): WorkerConfig {
  return {
    runtime,
    servedModelNames: ["m"],
    modelPath: "/nonexistent/model",
    disaggregationMode: mode,
    engine: { backend: "mocker", mocker: { speedupRatio: 50, numGpuBlocks: 256, maxModelLen: 4096 } },
    host: "127.0.0.1",
    port: 0,
    drainTimeoutSeconds: 5,
  };
}

beforeAll(async () => {
  discovery = await createDiscovery({ backend: "memory" });
  events = await createEventPlane({ backend: "memory" });
  const planes = { discovery, events };
  for (const mode of ["prefill", "decode"] as const)
    workers.push(await startWorker(workerConfig(mode), { planes }));
  router = await startRouter(
    {
      runtime,
      router: DEFAULT_KV_ROUTER_SETTINGS,
      workerComponent: "decode",
      maxLocalPrefillLength: 0,
      bookingLeaseSeconds: 60,
      host: "127.0.0.1",
      port: 0,
      drainTimeoutSeconds: 5,
    },
    { planes },
  );
});

afterAll(async () => {
  await router?.stop();
  for (const worker of workers) await worker.stop();
  await discovery?.close();
  await events?.close();
});

/** A counter's value in a registry's text, summed over its label sets. */
async function counter(worker: Worker, name: string): Promise<number> {
  const text = await metricsText(worker.metrics);
  let total = 0;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm")))
    total += Number(match[1]);
  return total;
}

describe("RouterService.Generate with prefill and decode workers", () => {
  it("prefills on the prefill worker, decodes on the decode worker, and streams the decode", async () => {
    const [prefill, decode] = workers;
    if (!prefill || !decode) throw new Error("workers did not start");
    const client = createClient(RouterService, `http://127.0.0.1:${new URL(router.url).port}`);
    const replies = [];
    for await (const reply of client.generate({
      request: {
        requestId: "disagg-1",
        model: "m",
        tokenIds: Array.from({ length: 200 }, (_, i) => 5000 + i),
        stop: { maxTokens: 12, ignoreEos: true },
      },
    })) {
      replies.push(reply);
    }
    expect(replies[0]?.workerId).toBe(decode.instanceId);
    expect(replies.flatMap((r) => r.output?.tokenIds ?? [])).toHaveLength(12);
    expect(await counter(prefill, "dynamo_component_requests_total")).toBe(1);
    expect(await counter(decode, "dynamo_component_requests_total")).toBe(1);
    // The decode worker pulled the prompt's blocks rather than computing them.
    expect(await counter(decode, "dynamo_component_kv_transfer_bytes_count")).toBe(1);
  });
});
