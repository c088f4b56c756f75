import { parseModelDeploymentCard } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import { buildModelCard } from "./model-card.js";

const capacity = {
  blockSize: 64,
  totalKvBlocks: 1000,
  maxNumSeqs: 8,
  maxNumBatchedTokens: 2048,
  dataParallelSize: 2,
  contextLength: 4096,
};

describe("buildModelCard", () => {
  it("describes the engine's capacity in a card the one parser accepts unchanged", () => {
    const card = buildModelCard(
      { servedModelNames: ["m", "alias"], modelPath: "/models/m", disaggregationMode: "agg" },
      capacity,
    );
    expect(card).toMatchObject({
      name: "m",
      aliases: ["alias"],
      kvCacheBlockSize: 64,
      contextLength: 4096,
      modelTypes: ["chat", "completions"],
      runtimeConfig: { totalKvBlocks: 1000, maxNumSeqs: 8, maxNumBatchedTokens: 2048, dataParallelSize: 2 },
    });
    expect(parseModelDeploymentCard(JSON.parse(JSON.stringify(card)))).toEqual(card);
  });

  it("marks prefill workers as prefill-only and decode workers as serving chat", () => {
    const input = { servedModelNames: ["m"], modelPath: "/m" };
    expect(buildModelCard({ ...input, disaggregationMode: "prefill" }, capacity).modelTypes).toEqual([
      "prefill",
    ]);
    expect(buildModelCard({ ...input, disaggregationMode: "decode" }, capacity).modelTypes).toEqual([
      "chat",
      "completions",
    ]);
  });

  it("refuses a worker without a served name", () => {
    expect(() =>
      buildModelCard({ servedModelNames: [], modelPath: "/m", disaggregationMode: "agg" }, capacity),
    ).toThrow(/served model name/);
  });
});
