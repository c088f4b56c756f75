// A NATS outage longer than the discovery TTL, then a NATS restarted on the same port with an empty store: the
// owners put their entries back, watchers see them again and never report them gone, and the connection's
// transitions are told once each.
import { type NatsServer, sleep, startNatsServer, waitFor } from "@kvasir/testing";
import { afterAll, describe, expect, it } from "vitest";
import { createDiscovery, type Discovery, type DiscoveryStatusEvent } from "../src/index.js";
import { follow } from "./helpers.js";

let nats: NatsServer | undefined;
const open: Discovery[] = [];

afterAll(async () => {
  await Promise.all(open.map((discovery) => discovery.close().catch(() => {})));
  await nats?.stop();
});

describe("nats discovery through an outage", () => {
  it("re-registers into a restarted, empty NATS; watchers keep their entries and see them again", async () => {
    const server = await startNatsServer();
    nats = server;
    const ttlMs = 2000;
    const options = { backend: "nats" as const, natsServers: server.url, bucket: "outage", ttlMs };
    const owner = await createDiscovery(options);
    const watcher = await createDiscovery(options);
    open.push(owner, watcher);
    const ownerEvents: DiscoveryStatusEvent[] = [];
    const watcherEvents: DiscoveryStatusEvent[] = [];
    owner.onStatus?.((event) => ownerEvents.push(event));
    watcher.onStatus?.((event) => watcherEvents.push(event));
    await owner.register("v1/instances/ns/backend/generate/01", { address: "http://127.0.0.1:1" });
    const watched = follow(watcher.watch("v1/"));
    await waitFor(() => watched.live.size === 1, { message: "the watcher sees the entry" });

    // Longer than the TTL, so nothing the old server held would have survived anyway.
    await server.stop();
    await sleep(2 * ttlMs + 500);
    expect(watched.live.size, "an unreachable store deletes nothing").toBe(1);
    nats = await startNatsServer({ port: server.port });

    await waitFor(async () => (await watcher.list("v1/instances/").catch(() => [])).length === 1, {
      timeoutMs: 8000,
      message: "the owner put its entry into the new server",
    });
    // Through a full sweep period after the reconnect, the watcher never dropped it.
    await sleep(ttlMs + 500);
    expect(watched.live.has("v1/instances/ns/backend/generate/01")).toBe(true);
    expect(watched.events.filter((event) => event.type === "delete")).toEqual([]);

    // A put after the restart reaches the watcher: its watch follows the new server.
    await owner.register("v1/instances/ns/backend/generate/02", { address: "http://127.0.0.1:2" });
    await waitFor(() => watched.live.size === 2, { timeoutMs: 5000, message: "a new entry is watched" });

    const types = (events: DiscoveryStatusEvent[]) => events.map((event) => event.type);
    expect(types(ownerEvents).filter((t) => t === "disconnected")).toHaveLength(1);
    expect(types(ownerEvents).filter((t) => t === "reconnected")).toHaveLength(1);
    expect(types(ownerEvents)).toContain("reregistered");
    expect(types(watcherEvents).filter((t) => t === "reconnected")).toHaveLength(1);
    watched.stop();
  });
});
