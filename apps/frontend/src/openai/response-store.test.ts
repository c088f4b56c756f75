import { describe, expect, it } from "vitest";
import { conversationOf, inputItemsOf, ResponseStore, type StoredResponse } from "./response-store.js";

const entry = (text: string, parent?: StoredResponse): StoredResponse => ({
  response: { id: text, output: [{ id: `out_${text}`, type: "message" }] },
  turn: [{ role: "user", content: text }],
  inputItems: [{ id: `in_${text}`, type: "message" }],
  ...(parent ? { parent } : {}),
});

describe("ResponseStore", () => {
  it("evicts the least recently used response beyond its size", () => {
    const store = new ResponseStore({ maxEntries: 2, ttlMs: 60_000 });
    store.put("a", entry("a"));
    store.put("b", entry("b"));
    expect(store.get("a")?.response.id).toBe("a"); // a is now the most recently used
    store.put("c", entry("c"));
    expect(store.get("b")).toBeUndefined();
    expect(store.get("a")?.response.id).toBe("a");
    expect(store.get("c")?.response.id).toBe("c");
    expect(store.size).toBe(2);
  });

  it("forgets a response once its time to live has passed", () => {
    let now = 0;
    const store = new ResponseStore({ maxEntries: 10, ttlMs: 1000, now: () => now });
    store.put("a", entry("a"));
    now = 999;
    expect(store.get("a")).toBeDefined();
    now = 1000;
    expect(store.get("a")).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it("keeps nothing with a size of 0, and deletes on request", () => {
    const none = new ResponseStore({ maxEntries: 0, ttlMs: 1000 });
    none.put("a", entry("a"));
    expect(none.get("a")).toBeUndefined();
    const store = new ResponseStore({ maxEntries: 1, ttlMs: 1000 });
    store.put("a", entry("a"));
    expect(store.delete("a")).toBe(true);
    expect(store.delete("a")).toBe(false);
    expect(store.get("a")).toBeUndefined();
  });

  it("rebuilds a conversation from its chain, even when earlier turns were evicted", () => {
    const store = new ResponseStore({ maxEntries: 1, ttlMs: 1000 });
    const first = entry("one");
    store.put("1", first);
    store.put("2", entry("two", first));
    expect(store.get("1")).toBeUndefined();
    expect(conversationOf(store.get("2")).map((m) => m.content)).toEqual(["one", "two"]);
    expect(conversationOf(undefined)).toEqual([]);
  });

  it("lists a continued response's input items: earlier turns' inputs and outputs, then its own input", () => {
    const first = entry("one");
    const ids = inputItemsOf(entry("three", entry("two", first))).map((item) => item.id);
    expect(ids).toEqual(["in_one", "out_one", "in_two", "out_two", "in_three"]);
    expect(inputItemsOf(first).map((item) => item.id)).toEqual(["in_one"]);
  });
});
