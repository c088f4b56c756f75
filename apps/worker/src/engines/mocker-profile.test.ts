import { resolveMockerConfig } from "@kvasir/mocker";
import { parseCardPerfProfile } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import { mockerPerfProfile } from "./mocker-profile.js";

describe("mockerPerfProfile", () => {
  it("samples the engine's own step timer into a card profile at the simulated speed", () => {
    const slow = mockerPerfProfile(resolveMockerConfig({ maxNumBatchedTokens: 4096, speedupRatio: 1 }));
    const fast = mockerPerfProfile(resolveMockerConfig({ maxNumBatchedTokens: 4096, speedupRatio: 4 }));
    expect(parseCardPerfProfile(slow)).toEqual(slow);
    expect(slow.prefillTokens.at(-1)).toBe(4096);
    // Default timing: 3 ms per step plus 7.6 µs per token and the chunk's own attention.
    expect(slow.prefillMs.at(-1) ?? 0).toBeCloseTo(3 + 4096 * 7.627e-3 + 2.49e-7 * 4096 * 2048, 3);
    expect(fast.prefillMs.at(-1) ?? 0).toBeCloseTo((slow.prefillMs.at(-1) ?? 0) / 4, 6);
    expect(slow.decodeMs.every((row) => row.every((ms, j) => j === 0 || ms <= (row[j - 1] as number)))).toBe(
      true,
    );
  });
});
