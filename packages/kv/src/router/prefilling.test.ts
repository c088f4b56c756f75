import { describe, expect, it } from "vitest";
import { PrefillingPrompts } from "./prefilling.js";

const h = (...xs: number[]) => BigUint64Array.from(xs.map(BigInt));

describe("PrefillingPrompts", () => {
  it("credits each worker with the longest prefix a prompt in prefill there shares with the query", () => {
    const p = new PrefillingPrompts();
    p.add("a", 1n, 0, h(1, 2, 3, 4));
    p.add("b", 1n, 0, h(1, 2, 9));
    p.add("c", 2n, 0, h(7, 8));
    const index = [{ workerId: 3n, dpRank: 0, matchedBlocks: 1 }];
    expect(p.merge(h(1, 2, 3, 5), index)).toEqual([
      { workerId: 3n, dpRank: 0, matchedBlocks: 1 },
      { workerId: 1n, dpRank: 0, matchedBlocks: 3 },
    ]);
    // The index's longer match stands; a query sharing nothing gets the index's answer as it was.
    const longer = [{ workerId: 1n, dpRank: 0, matchedBlocks: 4 }];
    expect(p.merge(h(1, 2, 3, 4, 5), longer)).toEqual(longer);
    expect(p.merge(h(5), index)).toBe(index);
  });

  it("forgets prompts whose prefill completed, whose worker left, or that retain rejects", () => {
    const p = new PrefillingPrompts();
    p.add("a", 1n, 0, h(1, 2));
    p.add("b", 2n, 1, h(1, 2));
    p.add("c", 3n, 0, h(1));
    p.add("empty", 3n, 0, h());
    expect(p.size).toBe(3);
    p.delete("a");
    p.retain((_, workerId) => workerId !== 3n);
    expect(p.size).toBe(1);
    expect(p.merge(h(1, 2), [])).toEqual([{ workerId: 2n, dpRank: 1, matchedBlocks: 2 }]);
  });
});
