import { describe, expect, it } from "vitest";
import { mockEmbedding } from "./embedding.js";
import { MockEngine } from "./engine.js";
import { guidedJson } from "./guided.js";
import { CANDIDATES, TokenSampler } from "./sampler.js";
import type { StepOutput } from "./scheduler.js";
import type { EngineRequest } from "./sequence.js";

const EOS = 7;
const prompt = Array.from({ length: 20 }, (_, i) => 100 + i);

/** Every output of each request, run to the end. */
function run(engine: MockEngine, requests: EngineRequest[]): Map<string, StepOutput[]> {
  for (const r of requests) engine.addRequest(r);
  const outputs = new Map<string, StepOutput[]>();
  for (let result = engine.step(); result; result = engine.step()) {
    for (const out of result.outputs)
      outputs.set(out.requestId, [...(outputs.get(out.requestId) ?? []), out]);
  }
  return outputs;
}

const idsOf = (outs: StepOutput[] | undefined) => (outs ?? []).flatMap((o) => o.tokenIds);

describe("the mocker ends replies", () => {
  it("emits EOS at an output length drawn around randomOutputLen, unless ignore_eos", () => {
    const engine = new MockEngine({ eosTokenIds: [EOS], randomOutputLen: 40, randomRangeRatio: 0.5 });
    const requests = Array.from({ length: 30 }, (_, i) => ({
      requestId: `r${i}`,
      tokenIds: prompt,
      maxTokens: 500,
    }));
    const outputs = run(engine, [
      ...requests,
      { requestId: "forever", tokenIds: prompt, maxTokens: 100, ignoreEos: true },
    ]);
    const lengths = requests.map((r) => {
      const outs = outputs.get(r.requestId) ?? [];
      expect(outs.at(-1)?.finishReason).toBe("stop");
      expect(idsOf(outs).at(-1)).toBe(EOS);
      expect(idsOf(outs).slice(0, -1)).not.toContain(EOS);
      return idsOf(outs).length;
    });
    for (const n of lengths) expect(n >= 20 && n <= 60).toBe(true);
    expect(new Set(lengths).size).toBeGreaterThan(5);
    expect(idsOf(outputs.get("forever"))).toHaveLength(100);
    expect(outputs.get("forever")?.at(-1)?.finishReason).toBe("length");
  });

  it("holds EOS back until min_tokens and lets max_tokens end a reply first", () => {
    const engine = new MockEngine({ eosTokenIds: [EOS], randomOutputLen: 10, randomRangeRatio: 0 });
    const outputs = run(engine, [
      { requestId: "min", tokenIds: prompt, maxTokens: 100, minTokens: 30 },
      { requestId: "short", tokenIds: prompt, maxTokens: 5 },
    ]);
    expect(idsOf(outputs.get("min"))).toHaveLength(31);
    expect(idsOf(outputs.get("short"))).toHaveLength(5);
    expect(outputs.get("short")?.at(-1)?.finishReason).toBe("length");
  });

  it("emits a guided output's tokens, then EOS", () => {
    const engine = new MockEngine({ eosTokenIds: [EOS], randomOutputLen: 3 });
    const outputs = run(engine, [
      { requestId: "g", tokenIds: prompt, maxTokens: 100, guidedTokenIds: [11, 12, 13, 14, 15] },
    ]);
    expect(idsOf(outputs.get("g"))).toEqual([11, 12, 13, 14, 15, EOS]);
    expect(outputs.get("g")?.at(-1)?.finishReason).toBe("stop");
  });
});

describe("logprobs", () => {
  it("reports each token's logprob and top alternatives, the same with or without them asked", () => {
    const engine = new MockEngine();
    const outputs = run(engine, [
      { requestId: "a", tokenIds: prompt, maxTokens: 12, seed: 5, logprobs: 3 },
      { requestId: "b", tokenIds: prompt, maxTokens: 12, seed: 5 },
    ]);
    const a = outputs.get("a") ?? [];
    expect(idsOf(a)).toEqual(idsOf(outputs.get("b")));
    expect(outputs.get("b")?.every((o) => o.logprobs === undefined)).toBe(true);
    for (const out of a) {
      const [entry] = out.logprobs ?? [];
      expect(entry?.top).toHaveLength(3);
      const lps = entry?.top.map((t) => t.logprob) ?? [];
      expect([...lps].sort((x, y) => y - x)).toEqual(lps);
      expect(entry?.logprob).toBeLessThanOrEqual(0);
      // The sampled token is listed with its logprob whenever it is among the top three.
      const listed = entry?.top.find((t) => t.tokenId === out.tokenIds[0]);
      if (listed) expect(listed.logprob).toBe(entry?.logprob);
    }
  });

  it("samples the most likely token at temperature 0 and spreads at temperature 1", () => {
    const greedy = new TokenSampler(42n, 1000, 30000, 0);
    for (let p = 0; p < 50; p++) expect(greedy.pick(p, () => false).rank).toBe(0);
    const sampler = new TokenSampler(42n, 1000, 30000, 1);
    const ranks = Array.from({ length: 2000 }, (_, p) => sampler.pick(p, () => false).rank);
    const top = ranks.filter((r) => r === 0).length / ranks.length;
    // Rank 0 has 1 - 1/e of the mass under logits -k.
    expect(top).toBeGreaterThan(0.55);
    expect(top).toBeLessThan(0.71);
    expect(Math.max(...ranks)).toBeLessThan(CANDIDATES);
  });
});

describe("guided JSON and embeddings", () => {
  it("produces JSON valid against the schema, the same for the same seed", () => {
    const schema = {
      type: "object",
      properties: {
        city: { type: "string", minLength: 1 },
        days: { type: "integer", minimum: 1, maximum: 7 },
      },
      required: ["city", "days"],
      additionalProperties: false,
    };
    for (let seed = 1n; seed < 20n; seed++) {
      const text = guidedJson({ json: schema }, seed);
      const value = JSON.parse(text);
      expect(Object.keys(value).sort(), text).toEqual(["city", "days"]);
      expect(typeof value.city === "string" && value.city.length > 0, text).toBe(true);
      expect(Number.isInteger(value.days) && value.days >= 1 && value.days <= 7, text).toBe(true);
      expect(guidedJson({ json: schema }, seed)).toBe(text);
    }
    expect(typeof JSON.parse(guidedJson({ jsonObject: true }, 3n))).toBe("object");
    // Values too large to build up front are refused rather than built.
    expect(() => guidedJson({ json: { type: "array", minItems: 1e9 } }, 1n)).toThrow(/minItems/);
    expect(() => guidedJson({ json: { type: "string", pattern: "a{99999999}" } }, 1n)).toThrow(/pattern/);
  });

  it("embeds as deterministic unit vectors that differ between inputs", () => {
    const a = mockEmbedding([1, 2, 3], 64);
    expect(a).toHaveLength(64);
    expect(Math.hypot(...a)).toBeCloseTo(1, 10);
    expect(mockEmbedding([1, 2, 3], 64)).toEqual(a);
    expect(mockEmbedding([1, 2, 4], 64)).not.toEqual(a);
  });
});
