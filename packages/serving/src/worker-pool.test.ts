import { createDiscovery, createEventPlane, type DiscoveryStatusEvent } from "@kvasir/runtime";
import { describe, expect, it } from "vitest";
import { type PoolChange, WorkerPool } from "./worker-pool.js";

const card = (name: string, aliases: string[] = []) => ({
  name,
  aliases,
  kvCacheBlockSize: 16,
  modelTypes: ["chat"],
  runtimeConfig: { totalKvBlocks: 10, maxNumSeqs: 4, maxNumBatchedTokens: 512, dataParallelSize: 2 },
});
const record = (port: number) => ({
  address: `http://10.0.0.1:${port}`,
  transport: "connect-h2c",
  metadata: {},
});

describe("WorkerPool", () => {
  it("joins instances of its component with their cards and follows them", async () => {
    const discovery = await createDiscovery({ backend: "memory" });
    const pool = new WorkerPool(discovery, { namespace: "pool-test", component: "decode" });
    const changes: PoolChange[] = [];
    pool.onChange((change) => changes.push(change));
    await pool.start();
    const instance = await discovery.register("v1/instances/pool-test/decode/generate/a", record(1));
    expect(pool.size).toBe(0); // no card yet
    const mdc = await discovery.register("v1/mdc/pool-test/m/a", card("m", ["alias"]));
    // A worker of another component is not in this pool.
    await discovery.register("v1/instances/pool-test/backend/generate/b", record(2));
    await discovery.register("v1/mdc/pool-test/m/b", card("m"));
    await expect.poll(() => pool.size).toBe(1);
    expect(pool.workers("alias")).toMatchObject([
      { instanceId: 0xan, address: "http://10.0.0.1:1", model: "m", dataParallelSize: 2, blockSize: 16 },
    ]);
    expect(pool.workers("other")).toEqual([]);
    await mdc.revoke();
    await expect.poll(() => pool.size).toBe(0);
    expect(changes.map((c) => c.type)).toEqual(["added", "removed"]);
    await instance.revoke();
    pool.close();
    await discovery.close();
  });

  it("skips a suspect worker while another serves, until discovery writes its record again", async () => {
    const pool = new WorkerPool(await createDiscovery({ backend: "memory" }), {
      namespace: "pool-test",
      component: "backend",
    });
    for (const id of ["1", "2"]) {
      pool.apply({
        type: "put",
        key: `v1/instances/pool-test/backend/generate/${id}`,
        value: record(Number(id)),
      });
      pool.apply({ type: "put", key: `v1/mdc/pool-test/m/${id}`, value: card("m") });
    }
    pool.markSuspect(1n);
    expect(pool.workers("m").map((w) => w.instanceId)).toEqual([2n]);
    // Discovery still lists it: /health says so.
    expect(pool.registered("m").map((w) => w.instanceId)).toEqual([1n, 2n]);
    // With every worker suspect, trying one beats refusing the request.
    pool.markSuspect(2n);
    expect(pool.workers("m").map((w) => w.instanceId)).toEqual([1n, 2n]);
    pool.apply({ type: "put", key: "v1/instances/pool-test/backend/generate/2", value: record(2) });
    expect(pool.workers("m").map((w) => w.instanceId)).toEqual([2n]);
    // Suspicion lapses on its own.
    pool.markSuspect(2n, -1);
    expect(pool.workers("m").map((w) => w.instanceId)).toEqual([2n]);
  });

  it("keeps the workers discovery deletes during an outage for the grace period, then drops them", async () => {
    const listeners = new Set<(event: DiscoveryStatusEvent) => void>();
    const memory = await createDiscovery({ backend: "memory" });
    // The memory backend has no connection; this one reports a NATS-like outage.
    const discovery = Object.assign(memory, {
      onStatus(listener: (event: DiscoveryStatusEvent) => void) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    });
    const tell = (event: DiscoveryStatusEvent) => {
      for (const listener of listeners) listener(event);
    };
    const pool = new WorkerPool(discovery, { namespace: "grace", component: "backend", outageGraceMs: 200 });
    const changes: PoolChange[] = [];
    pool.onChange((change) => changes.push(change));
    await pool.start();
    const put = (id: string) => {
      pool.apply({
        type: "put",
        key: `v1/instances/grace/backend/generate/${id}`,
        value: record(Number(id)),
      });
      pool.apply({ type: "put", key: `v1/mdc/grace/m/${id}`, value: card("m") });
    };
    const remove = (id: string) => {
      pool.apply({ type: "delete", key: `v1/instances/grace/backend/generate/${id}` });
      pool.apply({ type: "delete", key: `v1/mdc/grace/m/${id}` });
    };
    put("1");
    put("2");
    tell({ type: "disconnected", reason: "test" });
    remove("1");
    remove("2");
    expect(pool.workers("m").map((w) => w.instanceId)).toEqual([1n, 2n]);
    expect(pool.heldCount).toBe(2);
    tell({ type: "reconnected" });
    // Worker 2 re-registers within the grace period: it never left.
    put("2");
    expect(pool.heldCount).toBe(1);
    // Worker 1 does not: once the grace period after the reconnect has passed, it goes.
    await expect.poll(() => pool.workers("m").map((w) => w.instanceId), { timeout: 2000 }).toEqual([2n]);
    expect(changes.map((c) => `${c.type} ${c.worker.instanceId}`)).toEqual([
      "added 1",
      "added 2",
      "removed 1",
    ]);
    // Outside an outage a delete takes effect at once.
    await new Promise((resolve) => setTimeout(resolve, 250));
    remove("2");
    expect(pool.size).toBe(0);
    pool.close();
  });

  it("ignores malformed entries", async () => {
    const pool = new WorkerPool(await createDiscovery({ backend: "memory" }), {
      namespace: "pool-test",
      component: "backend",
    });
    pool.apply({ type: "put", key: "v1/instances/pool-test/backend/generate/1", value: { nope: true } });
    pool.apply({ type: "put", key: "v1/mdc/pool-test/m/1", value: { name: "m" } });
    pool.apply({ type: "put", key: "v1/instances/pool-test/backend/generate/not-hex", value: record(1) });
    expect(pool.size).toBe(0);
  });

  it("reads load from published metrics and its own in-flight requests", async () => {
    const events = await createEventPlane({ backend: "memory" });
    const pool = new WorkerPool(await createDiscovery({ backend: "memory" }), {
      namespace: "pool-test",
      component: "backend",
      events,
    });
    pool.apply({ type: "put", key: "v1/instances/pool-test/backend/generate/1", value: record(1) });
    pool.apply({ type: "put", key: "v1/mdc/pool-test/m/1", value: card("m") });
    const metrics = {
      workerId: 1n,
      dpRank: 1,
      activeKvBlocks: 9n,
      totalKvBlocks: 10n,
      numRequestsRunning: 0,
      numRequestsWaiting: 0,
      prefillTokensInFlight: 0n,
    };
    pool.applyLoad(metrics as never);
    pool.started(1n, 1);
    pool.started(1n, 1);
    expect(pool.load(1n, 1)).toEqual({ activeRequests: 2, activeDecodeBlocks: 9, activePrefillTokens: 0 });
    pool.ended(1n, 1);
    expect(pool.load(1n, 1).activeRequests).toBe(1);
    const worker = pool.workers("m")[0];
    if (!worker) throw new Error("worker missing");
    // Rank 0 has published nothing, so the worker is not busy as a whole.
    expect(pool.isBusy(worker, { activeDecodeBlocks: 0.5 })).toBe(false);
    pool.applyLoad({ ...metrics, dpRank: 0 } as never);
    expect(pool.isBusy(worker, { activeDecodeBlocks: 0.5 })).toBe(true);
    expect(pool.isBusy(worker, { activeDecodeBlocks: 0.95 })).toBe(false);
  });
});
