import { describe, expect, it } from "vitest";
import {
  parseVllmTokenId,
  readSglangLogprobs,
  readVllmCompletionLogprobs,
  readVllmTokenLogprobs,
  sglangLogprobFields,
  vllmCompletionLogprobs,
  vllmTokenLogprobs,
  type WireTokenLogprob,
} from "./logprobs.js";

// Token 7 was sampled though it is not among the three most likely; token 1 was, and is the most likely.
const unlikely: WireTokenLogprob = {
  tokenId: 7,
  logprob: -3,
  top: [
    { tokenId: 4, logprob: -0.5 },
    { tokenId: 5, logprob: -1 },
    { tokenId: 6, logprob: -2 },
  ],
};
const likely: WireTokenLogprob = {
  tokenId: 1,
  logprob: -0.1,
  top: [
    { tokenId: 1, logprob: -0.1 },
    { tokenId: 2, logprob: -2.5 },
    { tokenId: 3, logprob: -Infinity },
  ],
};

describe("vLLM's completion logprobs", () => {
  it("lists the sampled token first and up to n+1 entries, named token_id:<id>, -inf clamped", () => {
    const lp = vllmCompletionLogprobs([unlikely, likely], 3, 10);
    expect(lp.tokens).toEqual(["token_id:7", "token_id:1"]);
    expect(lp.token_logprobs).toEqual([-3, -0.1]);
    expect(lp.text_offset).toEqual([10, 20]);
    expect(Object.keys(lp.top_logprobs[0] ?? {})).toEqual([
      "token_id:7",
      "token_id:4",
      "token_id:5",
      "token_id:6",
    ]);
    expect(lp.top_logprobs[1]).toEqual({ "token_id:1": -0.1, "token_id:2": -2.5, "token_id:3": -9999 });
  });

  it("reads back each token's logprob and the n most likely, through JSON", () => {
    const wire = JSON.parse(JSON.stringify(vllmCompletionLogprobs([unlikely, likely], 3)));
    const read = readVllmCompletionLogprobs(wire, [7, 1], 3);
    expect(read?.[0]).toEqual(unlikely);
    expect(read?.[1]).toEqual({
      ...likely,
      top: [...likely.top.slice(0, 2), { tokenId: 3, logprob: -9999 }],
    });
    expect(readVllmCompletionLogprobs(null, [7], 3)).toBeUndefined();
    expect(readVllmCompletionLogprobs(wire, [7], 3)).toBeUndefined();
  });
});

describe("vLLM's generate logprobs", () => {
  it("cuts each position to max(n, 1) entries, the sampled first", () => {
    const { content } = vllmTokenLogprobs([unlikely], 3);
    expect(content?.[0]?.top_logprobs.map((t) => t.token)).toEqual([
      "token_id:7",
      "token_id:4",
      "token_id:5",
    ]);
    expect(content?.[0]).toMatchObject({ token: "token_id:7", logprob: -3, bytes: null });
    expect(vllmTokenLogprobs([unlikely], 0).content?.[0]?.top_logprobs).toHaveLength(1);
  });

  it("gives back the exact n most likely when n+1 were asked", () => {
    const wire = JSON.parse(JSON.stringify(vllmTokenLogprobs([unlikely, likely], 4)));
    expect(readVllmTokenLogprobs(wire, [7, 1], 3)?.[0]).toEqual(unlikely);
    expect(readVllmTokenLogprobs(wire, [7, 1], 0)?.[1]?.top).toEqual([]);
  });

  it("reads only token_id names", () => {
    expect(parseVllmTokenId("token_id:42")).toBe(42);
    expect(parseVllmTokenId("hello")).toBeUndefined();
    expect(parseVllmTokenId("token_id:x")).toBeUndefined();
  });
});

describe("SGLang's logprobs", () => {
  it("puts triples in meta_info, the top lists only when asked", () => {
    expect(sglangLogprobFields([unlikely], 0)).toEqual({
      input_token_logprobs: [],
      output_token_logprobs: [[-3, 7, null]],
    });
    expect(sglangLogprobFields([unlikely], 2).output_top_logprobs).toEqual([
      [
        [-0.5, 4, null],
        [-1, 5, null],
      ],
    ]);
  });

  it("reads the newest tokens' entries from cumulative or incremental lists", () => {
    const cumulative = JSON.parse(JSON.stringify(sglangLogprobFields([likely, unlikely], 3)));
    expect(readSglangLogprobs(cumulative, [7])).toEqual([unlikely]);
    const incremental = JSON.parse(JSON.stringify(sglangLogprobFields([unlikely], 3)));
    expect(readSglangLogprobs(incremental, [7])).toEqual([unlikely]);
    expect(readSglangLogprobs({}, [7])).toBeUndefined();
  });
});
