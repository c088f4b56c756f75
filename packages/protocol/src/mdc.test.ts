import { describe, expect, it } from "vitest";
import { parseInstanceRecord, parseModelDeploymentCard } from "./mdc.js";

const card = {
  name: "Qwen/Qwen3-0.6B",
  aliases: ["qwen"],
  tokenizerPath: "/models/qwen",
  contextLength: 40960,
  kvCacheBlockSize: 64,
  modelTypes: ["prefill"],
  runtimeConfig: { totalKvBlocks: 100, maxNumSeqs: 8, maxNumBatchedTokens: 8192, dataParallelSize: 2 },
};

describe("parseModelDeploymentCard", () => {
  it("keeps a well-formed card as it is", () => {
    expect(parseModelDeploymentCard(card)).toEqual(card);
  });

  it("keeps a well-formed perf profile and drops a malformed one without refusing the card", () => {
    const perfProfile = {
      prefillTokens: [1, 1024],
      prefillMs: [3, 12],
      decodeKvTokens: [1, 100_000],
      decodeContextLength: [1, 4096],
      decodeMs: [
        [3, 3.1],
        [4, 5],
      ],
    };
    expect(parseModelDeploymentCard({ ...card, perfProfile })?.perfProfile).toEqual(perfProfile);
    for (const bad of [
      { ...perfProfile, prefillMs: [3] },
      { ...perfProfile, prefillTokens: [1024, 1] },
      { ...perfProfile, decodeMs: [[3, 3.1]] },
      { ...perfProfile, decodeMs: [[3], [4]] },
      { ...perfProfile, prefillMs: [3, -1] },
      "fast",
    ]) {
      const parsed = parseModelDeploymentCard({ ...card, perfProfile: bad });
      expect(parsed?.name).toBe(card.name);
      expect(parsed?.perfProfile).toBeUndefined();
    }
  });

  it("fills what older writers leave out", () => {
    const parsed = parseModelDeploymentCard({ name: "m", kvCacheBlockSize: 16 });
    expect(parsed).toMatchObject({
      aliases: [],
      modelTypes: ["chat", "completions"],
      runtimeConfig: { dataParallelSize: 1, maxNumBatchedTokens: 0 },
    });
  });

  it("refuses values routing cannot use", () => {
    expect(parseModelDeploymentCard(null)).toBeUndefined();
    expect(parseModelDeploymentCard({ ...card, name: "" })).toBeUndefined();
    expect(parseModelDeploymentCard({ ...card, kvCacheBlockSize: 0 })).toBeUndefined();
    expect(parseModelDeploymentCard({ ...card, kvCacheBlockSize: "16" })).toBeUndefined();
  });

  it("drops unknown model types and bad aliases", () => {
    const parsed = parseModelDeploymentCard({
      ...card,
      aliases: ["a", 3, ""],
      modelTypes: ["chat", "video"],
    });
    expect(parsed?.aliases).toEqual(["a"]);
    expect(parsed?.modelTypes).toEqual(["chat"]);
  });
});

describe("parseInstanceRecord", () => {
  it("needs an address and keeps string metadata only", () => {
    expect(parseInstanceRecord({ address: "" })).toBeUndefined();
    expect(parseInstanceRecord({ address: "http://h:1", metadata: { a: "1", b: 2 } })).toEqual({
      address: "http://h:1",
      transport: "connect-h2c",
      metadata: { a: "1" },
    });
  });
});
