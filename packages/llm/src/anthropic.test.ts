import { describe, expect, it } from "vitest";
import {
  stripBillingPreamble,
  toChatToolFields,
  validateCountTokensRequest,
  validateMessagesRequest,
} from "./anthropic.js";

const base = { model: "Qwen/Qwen3-0.6B", max_tokens: 256, messages: [{ role: "user", content: "Hi" }] };

function errorMessage(body: unknown): string {
  const result = validateMessagesRequest(body);
  if (result.ok) throw new Error("expected a validation error");
  expect(result.error.type).toBe("error");
  expect(result.error.error.type).toBe("invalid_request_error");
  return result.error.error.message;
}

describe("Anthropic Messages requests", () => {
  it("accepts a conversation with tools, tool use and thinking", () => {
    const result = validateMessagesRequest({
      ...base,
      system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
      messages: [
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "use the tool", signature: "s" },
            { type: "tool_use", id: "tu_1", name: "get_weather", input: { city: "Paris" } },
          ],
        },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "tu_1", content: "22C" }] },
      ],
      tools: [{ name: "get_weather", input_schema: { type: "object", properties: {} } }],
      tool_choice: { type: "auto" },
      thinking: { type: "enabled", budget_tokens: 2048 },
      stop_sequences: ["END"],
      stream: true,
      unknown_field: true,
    });
    if (!result.ok) throw new Error(result.error.error.message);
    expect(result.value.messages).toHaveLength(3);
    expect("unknown_field" in result.value).toBe(false);
  });

  it("requires max_tokens", () => {
    expect(errorMessage({ model: "m", messages: base.messages })).toBe("max_tokens: Field required");
  });

  it("names bad fields with Anthropic's dotted paths", () => {
    expect(errorMessage({ ...base, messages: [{ role: "system", content: "x" }] })).toMatch(
      /^messages\.0\.role: /,
    );
    expect(errorMessage({ ...base, messages: [{ role: "user", content: [{ type: "text" }] }] })).toBe(
      "messages.0.content.0.text: Field required",
    );
    expect(errorMessage({ ...base, messages: [{ role: "user", content: [{ type: "video" }] }] })).toMatch(
      /^messages\.0\.content\.0\.type: /,
    );
    expect(errorMessage({ ...base, temperature: 1.5 })).toMatch(/^temperature: /);
    expect(errorMessage({ ...base, tool_choice: { type: "tool" } })).toBe("tool_choice.name: Field required");
    expect(errorMessage({ ...base, thinking: { type: "enabled", budget_tokens: 10 } })).toMatch(
      /^thinking\.budget_tokens: /,
    );
    expect(errorMessage({ ...base, max_tokens: "10" })).toBe("max_tokens: Input should be number");
    expect(errorMessage([])).toBe("body: Input should be object");
  });
});

describe("integers beyond their protobuf wire type", () => {
  it("refuses max_tokens beyond uint32, naming the field", () => {
    expect(errorMessage({ ...base, max_tokens: 2 ** 32 })).toMatch(/^max_tokens: Too big/);
  });

  it("refuses top_k beyond int32, naming the field", () => {
    expect(errorMessage({ ...base, top_k: 2 ** 31 })).toMatch(/^top_k: Too big/);
  });

  it("refuses nvext priority beyond int32, naming the field", () => {
    const message = errorMessage({ ...base, nvext: { agent_hints: { priority: 2 ** 31 } } });
    expect(message).toMatch(/^nvext\.agent_hints\.priority: Too big/);
  });

  it("accepts the largest values the wire takes", () => {
    expect(validateMessagesRequest({ ...base, max_tokens: 2 ** 32 - 1, top_k: 2 ** 31 - 1 }).ok).toBe(true);
  });
});

describe("count_tokens requests", () => {
  it("take a Messages request without max_tokens, and refuse what a Messages request would", () => {
    const { max_tokens: _max, ...rest } = base;
    expect(validateCountTokensRequest(rest).ok).toBe(true);
    const bad = validateCountTokensRequest({ ...rest, messages: [] });
    expect(bad.ok).toBe(false);
  });
});

describe("stripBillingPreamble", () => {
  const header = "x-anthropic-billing-header: cc_version=2.1.0; cch=abc123==;";

  it("drops Claude Code's billing block, or the first line of a system string that starts with it", () => {
    expect(
      stripBillingPreamble([
        { type: "text", text: header },
        { type: "text", text: "You are Claude Code." },
      ]),
    ).toEqual([{ type: "text", text: "You are Claude Code." }]);
    expect(stripBillingPreamble(`${header}\nYou are Claude Code.`)).toBe("You are Claude Code.");
    expect(stripBillingPreamble(`  ${header}`)).toBe("");
  });

  it("leaves any other system prompt as it is", () => {
    expect(stripBillingPreamble("You are helpful.")).toBe("You are helpful.");
    expect(stripBillingPreamble(`Intro\n${header}`)).toBe(`Intro\n${header}`);
    expect(stripBillingPreamble(undefined)).toBeUndefined();
  });
});

describe("toChatToolFields", () => {
  const tools = [{ name: "get_weather", description: "Weather", input_schema: { type: "object" } }];
  const fields = (tool_choice: unknown, withTools = true) => {
    const result = validateMessagesRequest({ ...base, tool_choice, ...(withTools ? { tools } : {}) });
    if (!result.ok) throw new Error(result.error.error.message);
    return toChatToolFields(result.value);
  };

  it("maps any to required, tool to a named function and disable_parallel_tool_use to parallel_tool_calls", () => {
    expect(fields({ type: "any" })).toEqual({
      ok: true,
      value: {
        tools: [
          {
            type: "function",
            function: { name: "get_weather", description: "Weather", parameters: { type: "object" } },
          },
        ],
        tool_choice: "required",
      },
    });
    const named = fields({ type: "tool", name: "get_weather", disable_parallel_tool_use: true });
    expect(named.ok && named.value.tool_choice).toEqual({
      type: "function",
      function: { name: "get_weather" },
    });
    expect(named.ok && named.value.parallel_tool_calls).toBe(false);
    expect(fields({ type: "auto" }).ok && fields({ type: "auto" })).toMatchObject({
      value: { tool_choice: "auto" },
    });
  });

  it("leaves the tools out under none", () => {
    expect(fields({ type: "none" })).toEqual({ ok: true, value: { tool_choice: "none" } });
  });

  it("refuses a forced choice without tools, or of a tool not given", () => {
    expect(fields({ type: "any" }, false).ok).toBe(false);
    const missing = fields({ type: "tool", name: "nope" });
    expect(missing.ok ? "" : missing.error).toMatch(/no tool named 'nope'/);
  });
});
