import { describe, expect, it } from "vitest";
import { validateChatCompletionRequest, validateCompletionRequest } from "./openai.js";

const chat = { model: "Qwen/Qwen3-0.6B", messages: [{ role: "user", content: "Hi" }] };

function chatError(body: unknown) {
  const result = validateChatCompletionRequest(body);
  if (result.ok) throw new Error("expected a validation error");
  return result.error.error;
}

function completionError(body: unknown) {
  const result = validateCompletionRequest(body);
  if (result.ok) throw new Error("expected a validation error");
  return result.error.error;
}

describe("chat completion requests", () => {
  it("accepts a full request and ignores unknown fields", () => {
    const result = validateChatCompletionRequest({
      ...chat,
      messages: [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [
            { type: "text", text: "Hi" },
            { type: "image_url", image_url: { url: "x" } },
          ],
        },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }],
        },
        { role: "tool", tool_call_id: "c1", content: "ok" },
      ],
      max_completion_tokens: 64,
      stop: ["\n\n"],
      temperature: 0.7,
      top_p: 0.9,
      seed: 7,
      n: 1,
      stream: true,
      stream_options: { include_usage: true },
      ignore_eos: true,
      min_tokens: 2,
      tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
      tool_choice: "auto",
      chat_template_kwargs: { enable_thinking: false },
      nvext: { backend_instance_id: "0xfedcba9876543210", agent_hints: { priority: 5 } },
      some_future_field: 1,
    });
    if (!result.ok) throw new Error(result.error.error.message);
    expect(result.value.stream_options?.include_usage).toBe(true);
    expect(result.value.nvext?.backend_instance_id).toBe(0xfedcba9876543210n);
    expect(result.value.nvext?.agent_hints?.priority).toBe(5);
    expect("some_future_field" in result.value).toBe(false);
    expect(result.value.messages[1]?.content).toHaveLength(2);
  });

  it("accepts nulls for optional fields, as OpenAI does", () => {
    const result = validateChatCompletionRequest({ ...chat, stop: null, max_tokens: null, tools: null });
    expect(result.ok).toBe(true);
  });

  it("names a missing field", () => {
    expect(chatError({ messages: chat.messages })).toEqual({
      message: "Missing required parameter: 'model'.",
      type: "invalid_request_error",
      param: "model",
      code: "missing_required_parameter",
    });
  });

  it("names the bad field inside messages", () => {
    expect(chatError({ ...chat, messages: [{ role: "user", content: 5 }] }).param).toBe(
      "messages[0].content",
    );
    expect(chatError({ ...chat, messages: [{ role: "tool", content: "x" }] })).toMatchObject({
      param: "messages[0].tool_call_id",
      code: "missing_required_parameter",
    });
    expect(chatError({ ...chat, messages: [{ role: "robot", content: "x" }] }).param).toBe(
      "messages[0].role",
    );
    expect(chatError({ ...chat, messages: [{ role: "user", content: [{ type: "text" }] }] }).param).toBe(
      "messages[0].content[0].text",
    );
    expect(chatError({ ...chat, messages: [] }).param).toBe("messages");
  });

  it("checks ranges and types of sampling fields", () => {
    expect(chatError({ ...chat, temperature: 3 })).toMatchObject({
      param: "temperature",
      code: "invalid_value",
    });
    expect(chatError({ ...chat, max_tokens: 0 })).toEqual({
      message: "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got 0 instead.",
      type: "invalid_request_error",
      param: "max_tokens",
      code: "integer_below_min_value",
    });
    expect(chatError({ ...chat, max_completion_tokens: 0 }).param).toBe("max_completion_tokens");
    expect(chatError({ ...chat, top_logprobs: 2 }).param).toBe("top_logprobs");
    expect(chatError({ ...chat, tool_choice: "required" }).param).toBe("tool_choice");
    const tools = [{ type: "function", function: { name: "f" } }];
    expect(
      chatError({ ...chat, tools, tool_choice: { type: "function", function: { name: "g" } } }).param,
    ).toBe("tool_choice");
    expect(chatError({ ...chat, response_format: { type: "json_schema" } }).param).toBe(
      "response_format.json_schema",
    );
    expect(chatError({ ...chat, response_format: { type: "xml" } }).param).toBe("response_format.type");
    expect(chatError({ ...chat, max_tokens: 1.5 }).param).toBe("max_tokens");
    expect(chatError({ ...chat, n: "2" })).toMatchObject({ param: "n", code: "invalid_type" });
    expect(chatError({ ...chat, stop: 5 }).message).toBe(
      "Invalid value for 'stop': expected a string or an array of strings.",
    );
    expect(chatError({ ...chat, stop: ["a", 1] }).param).toBe("stop[1]");
    expect(chatError({ ...chat, min_tokens: -1 }).param).toBe("min_tokens");
    expect(chatError({ ...chat, tool_choice: "sometimes" }).param).toBe("tool_choice");
  });

  it("allows stream_options only when streaming", () => {
    expect(chatError({ ...chat, stream_options: { include_usage: true } })).toMatchObject({
      param: "stream_options",
      message: "Invalid value for 'stream_options': only allowed when stream is true.",
    });
  });

  it("validates nvext", () => {
    expect(chatError({ ...chat, nvext: { backend_instance_id: -1 } }).param).toBe(
      "nvext.backend_instance_id",
    );
    expect(chatError({ ...chat, nvext: { backend_instance_id: "0x1ffffffffffffffff" } }).param).toBe(
      "nvext.backend_instance_id",
    );
    expect(chatError({ ...chat, nvext: { agent_hints: { priority: "high" } } }).param).toBe(
      "nvext.agent_hints.priority",
    );
    const ok = validateChatCompletionRequest({ ...chat, nvext: { backend_instance_id: 42 } });
    expect(ok.ok && ok.value.nvext?.backend_instance_id).toBe(42n);
  });

  it("rejects a body that is not an object", () => {
    expect(chatError("hello")).toMatchObject({ param: null, code: "invalid_type" });
  });
});

describe("completion requests", () => {
  const base = { model: "m" };

  it("takes a prompt or a list of prompts, text or token ids, as a list", () => {
    for (const [prompt, expected] of [
      ["hi", ["hi"]],
      [["hi"], ["hi"]],
      [
        ["a", "b"],
        ["a", "b"],
      ],
      [[1, 2, 3], [[1, 2, 3]]],
      [[[4, 5]], [[4, 5]]],
      [
        [[1], [2, 3]],
        [[1], [2, 3]],
      ],
    ] as const) {
      const result = validateCompletionRequest({ ...base, prompt });
      expect(result.ok && result.value.prompt).toEqual(expected);
    }
  });

  it("takes max_tokens 0, as OpenAI's legacy completions do", () => {
    expect(validateCompletionRequest({ ...base, prompt: "x", max_tokens: 0 }).ok).toBe(true);
  });

  it("refuses empty and malformed prompts", () => {
    expect(completionError({ ...base }).code).toBe("missing_required_parameter");
    expect(completionError({ ...base, prompt: [] }).param).toBe("prompt");
    expect(completionError({ ...base, prompt: [1, -2] }).param).toBe("prompt[1]");
    expect(completionError({ ...base, prompt: 7 }).param).toBe("prompt");
  });

  it("validates the shared sampling fields", () => {
    const result = validateCompletionRequest({
      ...base,
      prompt: "x",
      max_tokens: 5,
      stop: "\n",
      logprobs: 2,
    });
    expect(result.ok && result.value.stop).toBe("\n");
    expect(completionError({ ...base, prompt: "x", top_p: 0 }).param).toBe("top_p");
    expect(completionError({ ...base, prompt: "x", logprobs: 6 }).param).toBe("logprobs");
  });
});

describe("integers beyond their protobuf wire type", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ max_tokens: 2 ** 32 }, "max_tokens"],
    [{ max_completion_tokens: 2 ** 32 }, "max_completion_tokens"],
    [{ min_tokens: 2 ** 32 }, "min_tokens"],
    [{ top_k: 2 ** 31 }, "top_k"],
    [{ stop_token_ids: [1, 2 ** 32] }, "stop_token_ids[1]"],
    [{ nvext: { agent_hints: { priority: 2 ** 31 } } }, "nvext.agent_hints.priority"],
    [{ nvext: { agent_hints: { priority: -(2 ** 31) - 1 } } }, "nvext.agent_hints.priority"],
    [{ nvext: { agent_hints: { osl: 2 ** 32 } } }, "nvext.agent_hints.osl"],
  ];
  for (const [extra, param] of cases) {
    it(`refuses ${JSON.stringify(extra)} naming ${param}`, () => {
      const error = chatError({ ...chat, ...extra });
      expect(error.param).toBe(param);
      expect(error.code).toBe("invalid_value");
      expect(error.message).toMatch(/Too (big|small)/);
    });
  }

  it("accepts the largest values each field's type holds", () => {
    const result = validateChatCompletionRequest({
      ...chat,
      max_tokens: 2 ** 32 - 1,
      min_tokens: 2 ** 32 - 1,
      top_k: 2 ** 31 - 1,
      stop_token_ids: [2 ** 32 - 1],
      nvext: { agent_hints: { priority: -(2 ** 31) } },
    });
    expect(result.ok).toBe(true);
  });

  it("refuses prompt token ids beyond uint32", () => {
    expect(completionError({ model: "m", prompt: [1, 2 ** 32] }).param).toBe("prompt[1]");
  });
});
