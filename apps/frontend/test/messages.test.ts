import { defaultModelDir, validateMessagesRequest } from "@kvasir/llm";
import type { ModelDeploymentCard } from "@kvasir/protocol";
import { beforeAll, describe, expect, it } from "vitest";
import { prepareMessages } from "../src/anthropic/messages.js";
import { HttpError } from "../src/errors.js";
import type { ServedModel } from "../src/model-registry.js";
import { loadPreprocessor, type Preprocessor } from "../src/preprocessor.js";

const card: ModelDeploymentCard = {
  name: "Qwen/Qwen3-0.6B",
  aliases: [],
  tokenizerPath: defaultModelDir(),
  contextLength: 4096,
  kvCacheBlockSize: 16,
  modelTypes: ["chat"],
  runtimeConfig: { totalKvBlocks: 64, maxNumSeqs: 4, maxNumBatchedTokens: 512, dataParallelSize: 1 },
};
let pre: Preprocessor;
let model: ServedModel<Preprocessor>;

beforeAll(async () => {
  pre = await loadPreprocessor(card.tokenizerPath, card);
  model = { id: card.name, name: card.name, card, created: 0, workers: [], preprocessor: async () => pre };
});

async function prompt(body: unknown): Promise<string> {
  const result = validateMessagesRequest(body);
  if (!result.ok) throw new Error(result.error.error.message);
  return (await prepareMessages(result.value, model, pre)).prompt;
}

describe("Anthropic messages through the chat template", () => {
  it("puts the system prompt, tool uses and tool results where the template expects them", async () => {
    const text = await prompt({
      model: card.name,
      max_tokens: 10,
      system: "You are terse.",
      tools: [{ name: "get_time", description: "Current time", input_schema: { type: "object" } }],
      messages: [
        { role: "user", content: "What time is it?" },
        {
          role: "assistant",
          content: [{ type: "tool_use", id: "t1", name: "get_time", input: { tz: "UTC" } }],
        },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "12:00" }] },
      ],
    });
    expect(text).toContain("You are terse.");
    expect(text).toContain('"name": "get_time"');
    expect(text).toContain('{"tz": "UTC"}');
    expect(text).toContain("<tool_response>\n12:00\n</tool_response>");
    expect(text.endsWith("<|im_start|>assistant\n")).toBe(true);
  });

  it("maps thinking.type to the template's enable_thinking", async () => {
    const base = { model: card.name, max_tokens: 10, messages: [{ role: "user", content: "hi" }] };
    expect(await prompt({ ...base, thinking: { type: "disabled" } })).toContain("<think>\n\n</think>");
    expect(await prompt({ ...base, thinking: { type: "enabled", budget_tokens: 2048 } })).not.toContain(
      "</think>",
    );
  });

  it("refuses content the model cannot read", async () => {
    const body = validateMessagesRequest({
      model: card.name,
      max_tokens: 10,
      messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", data: "AAAA" } }] }],
    });
    if (!body.ok) throw new Error("the request itself is valid");
    await expect(prepareMessages(body.value, model, pre)).rejects.toThrow(HttpError);
  });
});
