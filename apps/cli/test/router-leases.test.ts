// A caller that books with BestWorker(update_states) and never frees cannot stall the router: each booking lapses
// with its lease, queued requests then go through, and the lapses are counted.
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
import { start as startWorker, type Worker } from "@kvasir/worker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const runtime = {
  namespace: "router-leases",
  discovery: { backend: "memory" as const },
  eventPlane: { backend: "memory" as const },
  logLevel: "error" as const,
};
const LEASE_SECONDS = 2;

let discovery: Discovery;
let events: EventPlane;
let worker: Worker;
let router: Router;

beforeAll(async () => {
  discovery = await createDiscovery({ backend: "memory" });
  events = await createEventPlane({ backend: "memory" });
  const planes = { discovery, events };
  worker = await startWorker(
    {
      runtime,
      servedModelNames: ["m"],
      modelPath: "/nonexistent/model",
      disaggregationMode: "agg",
      engine: {
        backend: "mocker",
        mocker: { speedupRatio: 50, numGpuBlocks: 512, maxModelLen: 4096, maxNumBatchedTokens: 256 },
      },
      host: "127.0.0.1",
      port: 0,
      drainTimeoutSeconds: 5,
    },
    { planes },
  );
  router = await startRouter(
    {
      runtime,
      // Busy once a worker has more than 256 prompt tokens waiting for prefill.
      router: { ...DEFAULT_KV_ROUTER_SETTINGS, queueThreshold: 1 },
      workerComponent: "backend",
      maxLocalPrefillLength: 0,
      bookingLeaseSeconds: LEASE_SECONDS,
      host: "127.0.0.1",
      port: 0,
      systemPort: 0,
      drainTimeoutSeconds: 5,
    },
    { planes },
  );
});

afterAll(async () => {
  await router?.stop();
  await worker?.stop();
  await discovery?.close();
  await events?.close();
});

const prompt = (from: number) => Array.from({ length: 64 }, (_, i) => from + i);

describe("router bookings", () => {
  it("lapse when a BestWorker caller never frees them, so the queue moves again", async () => {
    const client = createClient(RouterService, `http://127.0.0.1:${new URL(router.url).port}`);
    // 17 bookings of 64 prompt tokens each, never freed: far above the 256-token threshold.
    for (let i = 0; i < 17; i++) {
      await client.bestWorker({
        requestId: `leak-${i}`,
        model: "m",
        tokenIds: prompt(i * 100),
        updateStates: true,
      });
    }
    const started = performance.now();
    const tokens: number[] = [];
    for await (const reply of client.generate({
      request: {
        requestId: "after",
        model: "m",
        tokenIds: prompt(50_000),
        stop: { maxTokens: 4, ignoreEos: true },
      },
    })) {
      tokens.push(...(reply.output?.tokenIds ?? []));
    }
    const waited = (performance.now() - started) / 1000;
    // Served at all: before leases it waited in the queue for the 30-minute stale sweep.
    expect(tokens).toHaveLength(4);
    const expired = async () => {
      const metrics = await (await fetch(`${router.statusUrl}/metrics`)).text();
      return Number(/^dynamo_component_router_bookings_expired_total\{[^}]*\} (\d+)/m.exec(metrics)?.[1]);
    };
    // Every leaked booking lapses (the last ones a moment after the queue moved).
    await expect.poll(expired, { timeout: (LEASE_SECONDS + 3) * 1000 }).toBeGreaterThanOrEqual(17);
    console.info(
      `router-leases: 17 bookings never freed, lease ${LEASE_SECONDS} s: the queued request waited ${waited.toFixed(2)} s, ${await expired()} bookings lapsed`,
    );
  });
});
