import { create, LoadMetricsSchema } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import { HttpError } from "./errors.js";
import { LoadTracker } from "./load-tracker.js";
import type { RouteRequest, WorkerInstance } from "./route-request.js";
import { directRouter, selectorRouter } from "./routers.js";

const workers: WorkerInstance[] = [
  { instanceId: 3n, address: "http://c", dataParallelSize: 1 },
  { instanceId: 1n, address: "http://a", dataParallelSize: 1 },
  { instanceId: 2n, address: "http://b", dataParallelSize: 1 },
];
const request = (extra: Partial<RouteRequest> = {}): RouteRequest => ({
  requestId: "r",
  model: "m",
  tokenIds: [1, 2, 3],
  blockSize: 16,
  priority: 0,
  ...extra,
});
const statusOf = (route: () => unknown) => {
  try {
    route();
    return 200;
  } catch (error) {
    return error instanceof HttpError ? error.status : 0;
  }
};

describe("round-robin", () => {
  it("visits every worker once per cycle, whatever order discovery lists them in", async () => {
    const router = selectorRouter("round-robin", new LoadTracker());
    const picks: bigint[] = [];
    for (let i = 0; i < 6; i++) picks.push((await router.route(request(), workers)).instanceId);
    expect(picks).toEqual([1n, 2n, 3n, 1n, 2n, 3n]);
  });

  it("keeps one cycle per model", async () => {
    const router = selectorRouter("round-robin", new LoadTracker());
    const a1 = await router.route(request({ model: "a" }), workers);
    const b1 = await router.route(request({ model: "b" }), workers);
    expect(a1.instanceId).toBe(1n);
    expect(b1.instanceId).toBe(1n);
  });

  it("refuses with 503 when there is no worker", () => {
    expect(statusOf(() => selectorRouter("round-robin", new LoadTracker()).route(request(), []))).toBe(503);
  });
});

describe("random", () => {
  it("picks the worker the random source points at", async () => {
    const router = selectorRouter("random", new LoadTracker(), () => 0.99);
    expect((await router.route(request(), workers)).instanceId).toBe(3n);
  });
});

describe("least-loaded", () => {
  it("prefers fewer active requests, counting this frontend's own not yet in the metrics", async () => {
    const load = new LoadTracker();
    const metrics = (workerId: bigint, running: number) =>
      create(LoadMetricsSchema, { workerId, numRequestsRunning: running });
    load.apply(metrics(1n, 2));
    load.apply(metrics(2n, 3));
    load.apply(metrics(3n, 1));
    const router = selectorRouter("least-loaded", load, () => 0);
    expect((await router.route(request(), workers)).instanceId).toBe(3n);
    for (let i = 0; i < 3; i++) load.started(3n, 0);
    expect((await router.route(request(), workers)).instanceId).toBe(1n);
    for (let i = 0; i < 3; i++) load.ended(3n, 0);
    expect((await router.route(request(), workers)).instanceId).toBe(3n);
  });

  it("spreads over data-parallel ranks", async () => {
    const load = new LoadTracker();
    load.apply(create(LoadMetricsSchema, { workerId: 7n, dpRank: 0, numRequestsRunning: 4 }));
    load.apply(create(LoadMetricsSchema, { workerId: 7n, dpRank: 1, numRequestsRunning: 1 }));
    const decision = await selectorRouter("least-loaded", load).route(request(), [
      { instanceId: 7n, address: "http://x", dataParallelSize: 2 },
    ]);
    expect(decision).toEqual({ instanceId: 7n, dpRank: 1 });
  });
});

describe("direct", () => {
  it("uses nvext.backend_instance_id", async () => {
    expect((await directRouter().route(request({ backendInstanceId: 2n }), workers)).instanceId).toBe(2n);
  });

  it("answers 400 without an instance id and 503 for a worker that is gone", () => {
    expect(statusOf(() => directRouter().route(request(), workers))).toBe(400);
    expect(statusOf(() => directRouter().route(request({ backendInstanceId: 99n }), workers))).toBe(503);
  });
});
