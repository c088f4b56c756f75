import type { ModelDeploymentCard } from "@kvasir/protocol";
import { createDiscovery, instanceKey, mdcKey } from "@kvasir/runtime";
import { waitFor } from "@kvasir/testing";
import { describe, expect, it } from "vitest";
import { WorkerDirectory } from "./worker-directory.js";

const card = (name: string, blockSize: number): ModelDeploymentCard => ({
  name,
  aliases: [`${name}-alias`],
  tokenizerPath: "/nowhere",
  contextLength: 4096,
  kvCacheBlockSize: blockSize,
  modelTypes: ["chat"],
  runtimeConfig: { totalKvBlocks: 100, maxNumSeqs: 8, maxNumBatchedTokens: 2048, dataParallelSize: 2 },
});

describe("WorkerDirectory", () => {
  it("joins instance records with model cards, per model, and reports departures", async () => {
    const ns = "directory-test";
    const discovery = await createDiscovery({ backend: "memory" });
    const gone: bigint[] = [];
    const dir = new WorkerDirectory({ namespace: ns, component: "backend", onGone: (id) => gone.push(id) });
    const ident = (instanceId: bigint) => ({
      namespace: ns,
      component: "backend",
      endpoint: "generate",
      instanceId,
    });
    const leases = [
      await discovery.register(instanceKey(ident(2n)), {
        address: "http://b",
        transport: "connect-h2c",
        metadata: {},
      }),
      await discovery.register(mdcKey(ns, "m", 2n), card("m", 32)),
      await discovery.register(instanceKey(ident(1n)), {
        address: "http://a",
        transport: "connect-h2c",
        metadata: {},
      }),
      await discovery.register(mdcKey(ns, "other", 1n), card("other", 16)),
      // A card without an instance is not routable.
      await discovery.register(mdcKey(ns, "m", 3n), card("m", 32)),
    ];
    await dir.start(discovery);
    expect(dir.workersFor("m")).toEqual([
      {
        workerId: 2n,
        address: "http://b",
        model: "m",
        names: ["m", "m-alias"],
        blockSize: 32,
        dataParallelSize: 2,
        maxNumBatchedTokens: 2048,
      },
    ]);
    expect(dir.workersFor("other-alias").map((w) => w.workerId)).toEqual([1n]);
    expect(dir.workersFor("").map((w) => w.workerId)).toEqual([1n, 2n]);
    await leases[0]?.revoke();
    await waitFor(() => gone.length === 1, { timeoutMs: 2000 });
    expect(gone).toEqual([2n]);
    expect(dir.workersFor("m")).toEqual([]);
    dir.stop();
    await discovery.close();
  });
});
