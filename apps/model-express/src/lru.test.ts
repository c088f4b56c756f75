import { describe, expect, it } from "vitest";
import { chooseEvictions } from "./lru.js";

describe("LRU eviction", () => {
  const entry = (key: string, bytes: number, lastUsed: number, inUse = false) => ({
    key,
    bytes,
    lastUsed,
    inUse,
  });

  it("evicts the least recently used until under the limit", () => {
    const entries = [entry("a", 10, 3), entry("b", 10, 1), entry("c", 10, 2)];
    expect(chooseEvictions(entries, 30)).toEqual([]);
    expect(chooseEvictions(entries, 25)).toEqual(["b"]);
    expect(chooseEvictions(entries, 10)).toEqual(["b", "c"]);
  });

  it("never evicts a model in use, even over the limit", () => {
    const entries = [entry("old", 10, 1, true), entry("new", 10, 2)];
    expect(chooseEvictions(entries, 5)).toEqual(["new"]);
    expect(chooseEvictions([entry("only", 10, 1, true)], 0)).toEqual([]);
  });
});
