import { Detokenizer, defaultModelSource, loadTokenizer, type Tokenizer } from "@kvasir/llm";
import type { EngineFinish, EngineOutput } from "@kvasir/serving";
import { beforeAll, describe, expect, it } from "vitest";
import { StepBatcher, TextReader, type TextStep } from "../src/text-generation.js";

let tokenizer: Tokenizer;
beforeAll(async () => {
  tokenizer = await loadTokenizer(defaultModelSource());
});

/** A worker's output stream of `ids`, one token per message; records whether the consumer closed it early. */
function engine(ids: number[], finish: EngineFinish = "length") {
  const state = { closedEarly: false, sent: 0 };
  async function* outputs(): AsyncGenerator<EngineOutput> {
    let finished = false;
    try {
      for (const [i, id] of ids.entries()) {
        state.sent++;
        const last = i === ids.length - 1;
        const usage = { promptTokens: 3, completionTokens: i + 1, cachedTokens: 1 };
        yield {
          tokenIds: [id],
          usage,
          worker: { instanceId: 1n, dpRank: 0 },
          ...(last ? { finishReason: finish } : {}),
        };
        finished = last;
      }
    } finally {
      state.closedEarly = !finished;
    }
  }
  return { outputs: outputs(), state };
}

async function readAll(reader: TextReader): Promise<TextStep[]> {
  const steps: TextStep[] = [];
  try {
    for (let step = await reader.next(); step; step = await reader.next()) steps.push(step);
  } finally {
    await reader.close();
  }
  return steps;
}

async function collect(reader: TextReader) {
  const steps = await readAll(reader);
  return { text: steps.map((s) => s.text).join(""), finish: steps.at(-1)?.finishReason };
}

describe("TextReader", () => {
  it("detokenizes the worker's tokens and ends with the worker's finish reason", async () => {
    const ids = tokenizer.encode("Hello, wonderful world! ✨ done", { addSpecialTokens: false });
    const { outputs } = engine(ids);
    const out = await collect(new TextReader(outputs, new Detokenizer(tokenizer)));
    expect(out).toEqual({ text: "Hello, wonderful world! ✨ done", finish: "length" });
  });

  it("cuts at a stop string, never sends part of it, and cancels the worker's stream", async () => {
    const ids = tokenizer.encode("one two three four five six seven eight", { addSpecialTokens: false });
    const { outputs, state } = engine(ids);
    const read = await readAll(new TextReader(outputs, new Detokenizer(tokenizer, { stop: [" four"] })));
    const steps = read.map((s) => s.text);
    const usage = read.at(-1)?.usage.completionTokens;
    expect(read.at(-1)?.finishReason).toBe("stop");
    expect(steps.join("")).toBe("one two three");
    expect(steps.some((s) => s.includes("four") || s.endsWith(" f"))).toBe(false);
    expect(state.closedEarly).toBe(true);
    expect(state.sent).toBeLessThan(ids.length);
    expect(usage).toBe(state.sent);
  });

  it("stops at a stop token id as a stop", async () => {
    const ids = [...tokenizer.encode("abc", { addSpecialTokens: false }), 151645, 42, 43];
    const { outputs } = engine(ids);
    const out = await collect(
      new TextReader(outputs, new Detokenizer(tokenizer, { stopTokenIds: [151645] })),
    );
    expect(out).toEqual({ text: "abc", finish: "stop" });
  });
});

describe("StepBatcher", () => {
  it("takes every step that is ready in one batch, ending at the finish", async () => {
    const ids = tokenizer.encode("alpha beta gamma delta epsilon", { addSpecialTokens: false });
    const { outputs } = engine(ids);
    const reader = new TextReader(outputs, new Detokenizer(tokenizer));
    const batcher = new StepBatcher(reader);
    const batches: TextStep[][] = [];
    for (let batch = await batcher.next(); batch.length > 0; batch = await batcher.next())
      batches.push(batch);
    // The engine's outputs are all ready at once, so they come as one batch.
    expect(batches).toHaveLength(1);
    expect(
      batches
        .flat()
        .map((s) => s.text)
        .join(""),
    ).toBe("alpha beta gamma delta epsilon");
    expect(batches.flat().at(-1)?.finishReason).toBe("length");
    await reader.close();
  });

  it("stops at an event-loop turn when the next step is not ready yet", async () => {
    const ids = tokenizer.encode("one two", { addSpecialTokens: false });
    async function* slow(): AsyncGenerator<EngineOutput> {
      for (const [i, id] of ids.entries()) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const last = i === ids.length - 1;
        const usage = { promptTokens: 1, completionTokens: i + 1, cachedTokens: 0 };
        yield {
          tokenIds: [id],
          usage,
          worker: { instanceId: 1n, dpRank: 0 },
          ...(last ? { finishReason: "stop" as const } : {}),
        };
      }
    }
    const reader = new TextReader(slow(), new Detokenizer(tokenizer));
    const batcher = new StepBatcher(reader);
    const sizes: number[] = [];
    for (let batch = await batcher.next(); batch.length > 0; batch = await batcher.next())
      sizes.push(batch.length);
    expect(sizes).toEqual(ids.map(() => 1));
  });
});
