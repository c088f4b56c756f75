import { encodeKvEventBatch, type KvCacheEvent, storedFromTokens } from "@kvasir/kv";
import {
  createDiscovery,
  createEventPlane,
  type Discovery,
  instanceKey,
  kvEventsSubject,
} from "@kvasir/runtime";
import { waitFor } from "@kvasir/testing";
import { afterEach, describe, expect, it } from "vitest";
import { radixBackend } from "./index-backend.js";
import { KvSources } from "./kv-sources.js";
import { IndexerMetrics } from "./metrics.js";

const NS = "kv-sources-test";
const BLOCK = 4;
const tokens = (start: number, blocks: number) => Array.from({ length: blocks * BLOCK }, (_, i) => start + i);
const quiet = { info() {}, warn() {} };

function stored(workerId: bigint, eventId: bigint, start: number): KvCacheEvent {
  return { workerId, dpRank: 0, eventId, data: storedFromTokens(tokens(start, 1), BLOCK) };
}

let stops: { name: string; action: () => unknown }[] = [];
afterEach(async () => {
  for (const { action } of stops.reverse()) await action();
  stops = [];
});

async function setup(restored?: { eventIds: Map<bigint, bigint> }) {
  const [discovery, events] = await Promise.all([
    createDiscovery({ backend: "memory" }),
    createEventPlane({ backend: "memory" }),
  ]);
  stops.push({ name: "planes", action: () => Promise.all([discovery.close(), events.close()]) });
  const backend = radixBackend();
  let applied = 0;
  const sources = new KvSources({
    backend,
    metrics: new IndexerMetrics(NS, () => backend.workerBlocks()),
    discovery,
    events,
    namespace: NS,
    components: new Set(["backend"]),
    restored: restored && { ...restored, zmqSeqs: new Map() },
    zmq: { publishers: [], fromDiscovery: false, topic: "", replayTimeoutMs: 100 },
    applied: () => applied++,
    log: quiet,
  });
  const workers = () => new Set(backend.workerBlocks().map((w) => w.workerId));
  return { discovery, events, backend, sources, workers, appliedBatches: () => applied };
}

const register = (discovery: Discovery, component: string, id: bigint) =>
  discovery.register(instanceKey({ namespace: NS, component, endpoint: "generate", instanceId: id }), {
    address: "http://127.0.0.1:1",
    transport: "connect-h2c",
    metadata: {},
  });

describe("KvSources", () => {
  it("applies the watched components' plane events, counts batches and reports event_id watermarks", async () => {
    const { events, sources, workers, appliedBatches } = await setup();
    await sources.start((name, action) => stops.push({ name, action }));
    events.publish(kvEventsSubject(NS, "backend"), encodeKvEventBatch([stored(1n, 7n, 100)]));
    events.publish(kvEventsSubject(NS, "router"), encodeKvEventBatch([stored(2n, 1n, 200)]));
    await events.flush();
    expect(workers()).toEqual(new Set([1n]));
    expect(appliedBatches()).toBe(1);
    expect(sources.watermarks()).toEqual({ eventIds: new Map([[1n, 7n]]), zmqSeqs: new Map() });
  });

  it("hands over its stops so that the discovery watch stops first and the plane last", async () => {
    const { sources } = await setup();
    await sources.start((name, action) => stops.push({ name, action }));
    expect(stops.map((s) => s.name).reverse()).toEqual([
      "worker presence",
      "zmq kv streams",
      "event-plane kv events",
      "planes",
    ]);
  });

  it("on a warm start drops restored workers that left meanwhile, then follows departures", async () => {
    const { discovery, events, backend, sources, workers } = await setup({ eventIds: new Map([[1n, 1n]]) });
    // What a restored snapshot held: blocks of a worker still registered and of one that is gone.
    backend.index.applyEvent(stored(1n, 1n, 300));
    backend.index.applyEvent(stored(2n, 1n, 400));
    const stays = await register(discovery, "backend", 1n);
    await sources.start((name, action) => stops.push({ name, action }));
    expect(workers()).toEqual(new Set([1n]));

    // The restored event_id watermark holds: a repeat is not applied again, the next one is.
    events.publish(
      kvEventsSubject(NS, "backend"),
      encodeKvEventBatch([stored(1n, 1n, 500), stored(1n, 2n, 600)]),
    );
    await events.flush();
    expect(sources.watermarks().eventIds).toEqual(new Map([[1n, 2n]]));

    await stays.revoke();
    await waitFor(() => workers().size === 0, { message: "blocks of the departed worker removed" });
  });

  it("stops taking plane events once closed", async () => {
    const { events, sources, workers } = await setup();
    await sources.start((name, action) => stops.push({ name, action }));
    // Everything but the planes, which the test's cleanup closes.
    for (const { action } of stops.splice(1).reverse()) await action();
    events.publish(kvEventsSubject(NS, "backend"), encodeKvEventBatch([stored(3n, 1n, 700)]));
    await events.flush();
    expect(workers().size).toBe(0);
  });
});
