import { freePort, type NatsServer, spawnNode, startNatsServer, waitFor } from "@kvasir/testing";
import { connect, type KvEntry, KvWatchInclude } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDiscovery, type Discovery } from "../src/index.js";
import { follow, registerScript } from "./helpers.js";

let nats: NatsServer;
const open: Discovery[] = [];

async function natsDiscovery(bucket: string, ttlMs = 5000): Promise<Discovery> {
  const discovery = await createDiscovery({ backend: "nats", natsServers: nats.url, bucket, ttlMs });
  open.push(discovery);
  return discovery;
}

beforeAll(async () => {
  nats = await startNatsServer();
});

afterAll(async () => {
  await Promise.all(open.map((discovery) => discovery.close()));
  await nats?.stop();
});

describe("nats discovery", () => {
  it("register, list and watch puts and deletes across two connections", async () => {
    const a = await natsDiscovery("d1");
    const b = await natsDiscovery("d1");
    const model = "Qwen/Qwen3-0.6B";
    await a.register(`v1/mdc/ns/${model}/01`, { name: model });
    const watched = follow(b.watch("v1/"));
    await waitFor(() => watched.live.size === 1);
    const lease = await a.register("v1/instances/ns/backend/generate/02", { address: "http://127.0.0.1:2" });
    await b.register("other/03", 3);
    await waitFor(() => watched.live.size === 2);
    expect((await b.list("v1/instances/")).map((e) => e.value)).toEqual([{ address: "http://127.0.0.1:2" }]);
    expect(await a.list(`v1/mdc/ns/${model}/`)).toEqual([
      { key: `v1/mdc/ns/${model}/01`, value: { name: model } },
    ]);

    await lease.revoke();
    await waitFor(() => watched.live.size === 1);
    expect(await b.list("v1/instances/")).toEqual([]);
    expect(watched.events).toEqual([
      { type: "put", key: `v1/mdc/ns/${model}/01`, value: { name: model } },
      { type: "put", key: "v1/instances/ns/backend/generate/02", value: { address: "http://127.0.0.1:2" } },
      { type: "delete", key: "v1/instances/ns/backend/generate/02" },
    ]);
    watched.stop();
    await watched.done;
  });

  it("heartbeats keep entries alive; an owner that stops heartbeating disappears within its TTL", async () => {
    const ttlMs = 1500;
    const bucket = "d2";
    const watcher = await natsDiscovery(bucket, ttlMs);
    const watched = follow(watcher.watch("p/"));
    // The raw nats.js watcher on the same bucket shows why watches sweep: an aged-out entry produces no event.
    const rawConnection = await connect({ servers: nats.url });
    const raw: KvEntry[] = [];
    const rawWatch = await (await rawConnection.jetstream().views.kv(bucket)).watch({
      key: ">",
      include: KvWatchInclude.UpdatesOnly,
    });
    void (async () => {
      for await (const entry of rawWatch) raw.push(entry);
    })();

    const options = JSON.stringify({ backend: "nats", natsServers: nats.url, bucket, ttlMs });
    const [killed, stopped] = await Promise.all([
      spawnNode(registerScript, [options, "p/killed", '"k"'], { readyLine: /registered/ }),
      spawnNode(registerScript, [options, "p/stopped", '"s"'], { readyLine: /registered/ }),
    ]);
    await waitFor(() => watched.live.size === 2, { timeoutMs: 3000 });
    await new Promise((resolve) => setTimeout(resolve, ttlMs * 2));
    expect([...watched.live.keys()].sort()).toEqual(["p/killed", "p/stopped"]);

    killed.kill("SIGKILL");
    await killed.exited;
    await waitFor(() => !watched.live.has("p/killed"), { timeoutMs: ttlMs * 3 });
    expect(watched.events.filter((e) => e.key === "p/killed").map((e) => e.type)).toEqual(["put", "delete"]);
    expect(raw.filter((e) => e.key === "p/killed").every((e) => e.operation === "PUT")).toBe(true);
    expect(await watcher.list("p/")).toEqual([{ key: "p/stopped", value: "s" }]);

    stopped.kill("SIGTERM");
    expect((await stopped.exited).code).toBe(0);
    // Revoked on SIGTERM: gone from the bucket at once, seen as a delete by the raw watcher too.
    expect(await watcher.list("p/")).toEqual([]);
    expect(raw.some((e) => e.key === "p/stopped" && e.operation === "DEL")).toBe(true);
    await waitFor(() => watched.live.size === 0);
    watched.stop();
    rawWatch.stop();
    await rawConnection.close();
  });

  it("fails with a message naming the server when NATS is not reachable", async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    await expect(createDiscovery({ backend: "nats", natsServers: url })).rejects.toThrow(
      `cannot connect to NATS at ${url}`,
    );
  });

  it("close revokes the instance's leases and ends its watches", async () => {
    const a = await natsDiscovery("d3");
    const b = await natsDiscovery("d3");
    await a.register("c/a", 1);
    await b.register("c/b", 2);
    const watched = follow(a.watch("c/"));
    await waitFor(() => watched.live.size === 2);
    await a.close();
    await watched.done;
    expect(await b.list("c/")).toEqual([{ key: "c/b", value: 2 }]);
  });
});
