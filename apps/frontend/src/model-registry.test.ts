import type { InstanceRecord, ModelDeploymentCard } from "@kvasir/protocol";
import { createDiscovery, formatInstanceId } from "@kvasir/runtime";
import { WorkerPool } from "@kvasir/serving";
import { describe, expect, it } from "vitest";
import { ModelRegistry } from "./model-registry.js";

const card = (name: string, aliases: string[] = [], tokenizerPath = "/models/qwen"): ModelDeploymentCard => ({
  name,
  aliases,
  tokenizerPath,
  contextLength: 4096,
  kvCacheBlockSize: 16,
  modelTypes: ["chat", "completions"],
  runtimeConfig: { totalKvBlocks: 100, maxNumSeqs: 8, maxNumBatchedTokens: 512, dataParallelSize: 1 },
});
const record = (port: number): InstanceRecord => ({
  address: `http://127.0.0.1:${port}`,
  transport: "connect-h2c",
  metadata: {},
});

const discovery = await createDiscovery({ backend: "memory" });

/** A registry over an aggregated and a decode pool, driven by discovery events applied by hand. */
function registry(loads: string[] = [], modelPath?: string, clock?: { now: number }) {
  const backend = new WorkerPool(discovery, { namespace: "ns", component: "backend" });
  const decode = new WorkerPool(discovery, { namespace: "ns", component: "decode" });
  const r = new ModelRegistry<string>({
    pools: [backend, decode],
    ...(modelPath ? { modelPath } : {}),
    ...(clock ? { now: () => clock.now, recentMs: 1000 } : {}),
    load: async (dir) => {
      loads.push(dir);
      return `tokenizer of ${dir}`;
    },
  });
  const apply = (event: Parameters<WorkerPool["apply"]>[0]) => {
    backend.apply(event);
    decode.apply(event);
  };
  return Object.assign(r, { apply });
}
type Registry = ReturnType<typeof registry>;

function register(r: Registry, id: bigint, c: ModelDeploymentCard, component = "backend") {
  r.apply({ type: "put", key: `v1/mdc/ns/${c.name}/${formatInstanceId(id)}`, value: c });
  r.apply({
    type: "put",
    key: `v1/instances/ns/${component}/generate/${formatInstanceId(id)}`,
    value: record(Number(id)),
  });
}

function deregister(r: Registry, id: bigint, name: string, component = "backend") {
  r.apply({ type: "delete", key: `v1/instances/ns/${component}/generate/${formatInstanceId(id)}` });
  r.apply({ type: "delete", key: `v1/mdc/ns/${name}/${formatInstanceId(id)}` });
}

describe("ModelRegistry", () => {
  it("remembers for a while the names whose last worker left, so they get 503 rather than 404", () => {
    const clock = { now: 0 };
    const r = registry([], undefined, clock);
    expect(r.recentlyServed("m")).toBe(false);
    register(r, 1n, card("m", ["alias"]));
    expect(r.recentlyServed("m")).toBe(false);
    clock.now = 100;
    deregister(r, 1n, "m");
    expect(r.resolve("m")).toBeUndefined();
    expect(r.recentlyServed("m")).toBe(true);
    expect(r.recentlyServed("alias")).toBe(true);
    expect(r.recentlyServed("never-served")).toBe(false);
    clock.now = 1101;
    expect(r.recentlyServed("m")).toBe(false);
  });

  it("shows a slashed model name when its first worker registers and hides it when the last one leaves", () => {
    const r = registry();
    expect(r.resolve("Qwen/Qwen3-0.6B")).toBeUndefined();
    register(r, 1n, card("Qwen/Qwen3-0.6B"));
    register(r, 2n, card("Qwen/Qwen3-0.6B"));
    expect(
      r
        .resolve("Qwen/Qwen3-0.6B")
        ?.workers.map((w) => w.instanceId)
        .sort(),
    ).toEqual([1n, 2n]);
    deregister(r, 1n, "Qwen/Qwen3-0.6B");
    expect(r.resolve("Qwen/Qwen3-0.6B")?.workers.map((w) => w.instanceId)).toEqual([2n]);
    deregister(r, 2n, "Qwen/Qwen3-0.6B");
    expect(r.resolve("Qwen/Qwen3-0.6B")).toBeUndefined();
    expect(r.list()).toEqual([]);
  });

  it("needs both the card and the instance record before a worker serves", () => {
    const r = registry();
    r.apply({ type: "put", key: "v1/mdc/ns/m/0000000000000001", value: card("m") });
    expect(r.resolve("m")).toBeUndefined();
    r.apply({ type: "put", key: "v1/instances/ns/backend/generate/0000000000000001", value: record(1) });
    expect(r.resolve("m")?.workers[0]?.address).toBe("http://127.0.0.1:1");
  });

  it("answers to aliases and lists each name once", () => {
    const r = registry();
    register(r, 1n, card("main", ["alias-a", "alias-b"]));
    register(r, 2n, card("main", ["alias-a", "alias-b"]));
    expect(r.resolve("alias-b")?.name).toBe("main");
    expect(r.list().map((m) => m.id)).toEqual(["main", "alias-a", "alias-b"]);
  });

  it("serves a model whose only workers are decode workers", () => {
    const r = registry();
    register(r, 5n, card("d"), "decode");
    expect(r.resolve("d")?.workers.map((w) => w.instanceId)).toEqual([5n]);
    expect(r.list().map((m) => m.id)).toEqual(["d"]);
    deregister(r, 5n, "d", "decode");
    expect(r.resolve("d")).toBeUndefined();
  });

  it("ignores other namespaces and malformed keys", () => {
    const r = registry();
    r.apply({ type: "put", key: "v1/mdc/other/m/0000000000000001", value: card("m") });
    r.apply({ type: "put", key: "v1/mdc/ns/m/not-hex", value: card("m") });
    r.apply({ type: "put", key: "v1/instances/ns/backend/generate/0000000000000001", value: record(1) });
    expect(r.resolve("m")).toBeUndefined();
  });

  it("loads one preprocessor per model directory, and --model-path overrides the card's", async () => {
    const loads: string[] = [];
    const r = registry(loads);
    register(r, 1n, card("a", [], "/models/shared"));
    register(r, 2n, card("b", [], "/models/shared"));
    const [a, b] = await Promise.all([r.resolve("a")?.preprocessor(), r.resolve("b")?.preprocessor()]);
    expect(a).toBe("tokenizer of /models/shared");
    expect(b).toBe(a);
    expect(loads).toEqual(["/models/shared"]);

    const overridden = registry([], "/override");
    register(overridden, 1n, card("a"));
    expect(await overridden.resolve("a")?.preprocessor()).toBe("tokenizer of /override");
  });
});
