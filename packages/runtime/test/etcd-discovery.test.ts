import { createServer } from "node:net";
import { type EtcdServer, freePort, spawnNode, startEtcdServer, waitFor } from "@kvasir/testing";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDiscovery, DEFAULT_ETCD_ROOT, type Discovery, EtcdDiscovery } from "../src/index.js";
import { follow, registerScript } from "./helpers.js";

let etcd: EtcdServer;
/** An independent view of the same etcd, to check what the backend really stored. */
let raw: Etcd3;
const open: Discovery[] = [];

async function etcdDiscovery(ttlMs = 5000, server: EtcdServer = etcd): Promise<Discovery> {
  const discovery = await createDiscovery({ backend: "etcd", etcdEndpoints: server.url, ttlMs });
  open.push(discovery);
  return discovery;
}

beforeAll(async () => {
  etcd = await startEtcdServer();
  raw = new Etcd3({ hosts: etcd.url });
});

afterAll(async () => {
  await Promise.all(open.map((discovery) => discovery.close()));
  raw?.close();
  await etcd?.stop();
});

describe("etcd discovery", () => {
  it("register, list and watch puts and deletes across two instances, under Kvasir's root prefix", async () => {
    const a = await etcdDiscovery();
    const b = await etcdDiscovery();
    const model = "Qwen/Qwen3-0.6B:fp8";
    await a.register(`v1/mdc/ns/${model}/01`, { name: model });
    // Someone else's key in the same etcd is not Kvasir's.
    await raw.put("v1/mdc/ns/foreign/09").value('{"name":"foreign"}');
    const watched = follow(b.watch("v1/"));
    await waitFor(() => watched.live.size === 1);
    const lease = await a.register("v1/instances/ns/backend/generate/02", { address: "http://127.0.0.1:2" });
    await b.register("other/03", 3);
    await waitFor(() => watched.live.size === 2);
    expect((await b.list("v1/instances/")).map((e) => e.value)).toEqual([{ address: "http://127.0.0.1:2" }]);
    expect(await a.list(`v1/mdc/ns/${model}/`)).toEqual([
      { key: `v1/mdc/ns/${model}/01`, value: { name: model } },
    ]);
    expect((await a.list("")).map((e) => e.key)).toEqual([
      "other/03",
      "v1/instances/ns/backend/generate/02",
      `v1/mdc/ns/${model}/01`,
    ]);
    // Stored as JSON under the root prefix, attached to a lease.
    const stored = await raw.get(`${DEFAULT_ETCD_ROOT}v1/instances/ns/backend/generate/02`).exec();
    expect(JSON.parse(stored.kvs[0]?.value.toString() ?? "null")).toEqual({ address: "http://127.0.0.1:2" });
    expect(stored.kvs[0]?.lease).not.toBe("0");

    // An update of a value is a put with the new value.
    await a.register(`v1/mdc/ns/${model}/01`, { name: model, v: 2 });
    await waitFor(() => watched.events.length === 3);

    await lease.revoke();
    // Deleted at once, not at the lease's expiry.
    expect((await raw.get(`${DEFAULT_ETCD_ROOT}v1/instances/ns/backend/generate/02`).exec()).kvs).toEqual([]);
    await waitFor(() => watched.live.size === 1);
    expect(await b.list("v1/instances/")).toEqual([]);
    expect(watched.events).toEqual([
      { type: "put", key: `v1/mdc/ns/${model}/01`, value: { name: model } },
      { type: "put", key: "v1/instances/ns/backend/generate/02", value: { address: "http://127.0.0.1:2" } },
      { type: "put", key: `v1/mdc/ns/${model}/01`, value: { name: model, v: 2 } },
      { type: "delete", key: "v1/instances/ns/backend/generate/02" },
    ]);
    watched.stop();
    await watched.done;
  });

  it("a revoke leaves a newer registration of the same key alone", async () => {
    const a = await etcdDiscovery();
    const b = await etcdDiscovery();
    const old = await a.register("shared/key", "a");
    await b.register("shared/key", "b");
    await old.revoke();
    expect(await a.list("shared/")).toEqual([{ key: "shared/key", value: "b" }]);
    // Re-registering within one instance: the first handle's revoke is a no-op.
    const first = await a.register("mine/key", 1);
    await a.register("mine/key", 2);
    await first.revoke();
    expect(await b.list("mine/")).toEqual([{ key: "mine/key", value: 2 }]);
  });

  it("a SIGKILLed owner's entry disappears within its lease TTL; a stopped owner's at once", async () => {
    const ttlMs = 2000;
    const watcher = await etcdDiscovery();
    const watched = follow(watcher.watch("p/"));
    const options = JSON.stringify({ backend: "etcd", etcdEndpoints: etcd.url, ttlMs });
    const [killed, stopped] = await Promise.all([
      spawnNode(registerScript, [options, "p/killed", '"k"'], { readyLine: /registered/ }),
      spawnNode(registerScript, [options, "p/stopped", '"s"'], { readyLine: /registered/ }),
    ]);
    await waitFor(() => watched.live.size === 2, { timeoutMs: 3000 });
    // Kept alive past the TTL by the client's keep-alive.
    await new Promise((resolve) => setTimeout(resolve, ttlMs * 1.5));
    expect([...watched.live.keys()].sort()).toEqual(["p/killed", "p/stopped"]);

    killed.kill("SIGKILL");
    await killed.exited;
    const killedAt = Date.now();
    await waitFor(() => !watched.live.has("p/killed"), { timeoutMs: ttlMs + 1500 });
    expect(Date.now() - killedAt).toBeLessThan(ttlMs + 1500);
    expect(watched.events.filter((e) => e.key === "p/killed").map((e) => e.type)).toEqual(["put", "delete"]);
    expect(await watcher.list("p/")).toEqual([{ key: "p/stopped", value: "s" }]);

    stopped.kill("SIGTERM");
    expect((await stopped.exited).code).toBe(0);
    // close() revoked the lease on SIGTERM: gone at once.
    expect(await watcher.list("p/")).toEqual([]);
    await waitFor(() => watched.live.size === 0);
    watched.stop();
  });

  it("close revokes the instance's lease and ends its watches", async () => {
    const a = await etcdDiscovery();
    const b = await etcdDiscovery();
    await a.register("c/a", 1);
    await a.register("c/a2", 1);
    await b.register("c/b", 2);
    const watched = follow(a.watch("c/"));
    await waitFor(() => watched.live.size === 3);
    await a.close();
    await watched.done;
    expect(await b.list("c/")).toEqual([{ key: "c/b", value: 2 }]);
    await expect(a.register("c/late", 3)).rejects.toThrow("closed");
    await expect(b.register("c/undefined", undefined)).rejects.toThrow("not JSON-serializable");
  });

  it("re-registers its entries when its lease is lost", async () => {
    const warnings: string[] = [];
    const owner = await EtcdDiscovery.open({
      endpoints: etcd.url,
      ttlMs: 1000,
      warn: (message) => warnings.push(message),
    });
    open.push(owner);
    await owner.register("lost/a", "a");
    await owner.register("lost/b", "b");
    const watched = follow((await etcdDiscovery()).watch("lost/"));
    await waitFor(() => watched.live.size === 2);
    // Revoke the owner's lease behind its back, as an etcd that expired it would.
    const [stored] = (await raw.get(`${DEFAULT_ETCD_ROOT}lost/a`).exec()).kvs;
    expect(stored?.lease).toBeDefined();
    await raw.leaseClient.leaseRevoke({ ID: stored?.lease });
    await waitFor(() => watched.events.filter((e) => e.type === "put").length === 4, { timeoutMs: 5000 });
    expect(watched.events.map((e) => e.type).sort()).toEqual([
      "delete",
      "delete",
      "put",
      "put",
      "put",
      "put",
    ]);
    expect(await owner.list("lost/")).toEqual([
      { key: "lost/a", value: "a" },
      { key: "lost/b", value: "b" },
    ]);
    expect(warnings.join("\n")).toMatch(/lease lost.*re-registering 2 entries/);
    watched.stop();
  });

  it("survives an etcd restart that lost all data: entries come back and watches see them", async () => {
    const server = await startEtcdServer();
    try {
      const owner = await EtcdDiscovery.open({ endpoints: server.url, ttlMs: 1000, warn: () => {} });
      open.push(owner);
      const watcher = await etcdDiscovery(5000, server);
      // Push the revision well past what the wiped etcd will reach, so a watch that merely resumed would miss events.
      const other = new Etcd3({ hosts: server.url });
      for (let i = 0; i < 20; i++) await other.put("elsewhere").value(String(i));
      other.close();
      await owner.register("r/a", { n: 1 });
      const watched = follow(watcher.watch("r/"));
      await waitFor(() => watched.live.size === 1);
      await server.restart({ wipe: true });
      // The wiped etcd knows neither the key nor the lease: the owner grants a new lease and puts it again.
      await waitFor(async () => (await watcher.list("r/").catch(() => [])).length === 1, {
        timeoutMs: 10_000,
      });
      expect(await watcher.list("r/")).toEqual([{ key: "r/a", value: { n: 1 } }]);
      // The watch follows the new etcd, whose revisions started over.
      await owner.register("r/b", 2);
      await waitFor(() => watched.live.size === 2, { timeoutMs: 10_000 });
      expect(watched.live.get("r/a")).toEqual({ n: 1 });
      await owner.close();
      await waitFor(() => watched.live.size === 0);
      watched.stop();
    } finally {
      await server.stop();
    }
  });

  it("fails quickly with a message naming the endpoints when etcd is not reachable", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    await expect(createDiscovery({ backend: "etcd", etcdEndpoints: `${url}, ${etcd.url}x` })).rejects.toThrow(
      /invalid etcd endpoint/,
    );
    await expect(createDiscovery({ backend: "etcd", etcdEndpoints: url })).rejects.toThrow(
      `cannot connect to etcd at ${url}`,
    );
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it("gives up after its timeout when the endpoint accepts connections but never answers", async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    try {
      const started = Date.now();
      await expect(EtcdDiscovery.open({ endpoints: url, ttlMs: 1000, timeoutMs: 1000 })).rejects.toThrow(
        `cannot connect to etcd at ${url}`,
      );
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      silent.close();
    }
  });
});
