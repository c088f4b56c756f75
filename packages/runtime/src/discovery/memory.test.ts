import { describe, expect, it } from "vitest";
import { MemoryDiscovery } from "./memory.js";
import type { DiscoveryEvent, DiscoveryWatch } from "./types.js";

/** Collects a watch's events into a live array. */
function collect(watch: DiscoveryWatch): { events: DiscoveryEvent[]; done: Promise<void> } {
  const events: DiscoveryEvent[] = [];
  const done = (async () => {
    for await (const event of watch) events.push(event);
  })();
  return { events, done };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("memory discovery", () => {
  it("lists by prefix, and is its own registry: no process-wide state", async () => {
    const a = new MemoryDiscovery();
    const b = new MemoryDiscovery();
    const first = await a.register("t1/x/1", { n: 1 });
    await a.register("t1/x/2", { n: 2 });
    await a.register("t1/y/1", { n: 3 });
    expect((await a.list("t1/x/")).sort((p, q) => p.key.localeCompare(q.key))).toEqual([
      { key: "t1/x/1", value: { n: 1 } },
      { key: "t1/x/2", value: { n: 2 } },
    ]);
    expect(await b.list("t1/")).toEqual([]);
    await first.revoke();
    expect(await a.list("t1/x/")).toEqual([{ key: "t1/x/2", value: { n: 2 } }]);
    await a.close();
    expect(await a.list("t1/")).toEqual([]);
    await b.close();
  });

  it("stores a copy of the registered value", async () => {
    const d = new MemoryDiscovery();
    const value = { n: 1 };
    await d.register("t2/k", value);
    value.n = 2;
    expect(await d.list("t2/")).toEqual([{ key: "t2/k", value: { n: 1 } }]);
    await d.close();
  });

  it("watch yields current entries, then puts and deletes under its prefix, and ends on stop", async () => {
    const d = new MemoryDiscovery();
    const existing = await d.register("t3/a", 1);
    const watch = d.watch("t3/");
    const { events, done } = collect(watch);
    const lease = await d.register("t3/b", 2);
    await d.register("t4/c", 3);
    await lease.revoke();
    await existing.revoke();
    await tick();
    expect(events).toEqual([
      { type: "put", key: "t3/a", value: 1 },
      { type: "put", key: "t3/b", value: 2 },
      { type: "delete", key: "t3/b" },
      { type: "delete", key: "t3/a" },
    ]);
    watch.stop();
    await done;
    await d.close();
  });

  it("a revoked older lease does not delete a newer registration of the same key", async () => {
    const d = new MemoryDiscovery();
    const first = await d.register("t5/k", "old");
    await d.register("t5/k", "new");
    await first.revoke();
    expect(await d.list("t5/")).toEqual([{ key: "t5/k", value: "new" }]);
    await d.close();
    expect(await d.list("t5/")).toEqual([]);
  });

  it("breaking out of a for-await stops the watch, and close ends open watches", async () => {
    const d = new MemoryDiscovery();
    await d.register("t6/a", 1);
    for await (const event of d.watch("t6/")) {
      expect(event).toEqual({ type: "put", key: "t6/a", value: 1 });
      break;
    }
    const { events, done } = collect(d.watch("t6/"));
    await d.close();
    await done;
    expect(events).toEqual([{ type: "put", key: "t6/a", value: 1 }]);
  });
});
