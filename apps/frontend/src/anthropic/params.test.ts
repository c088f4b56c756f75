import { describe, expect, it } from "vitest";
import { HttpError } from "../errors.js";
import { refuseUnsupportedMessagesParams } from "./params.js";

const base = { model: "m", max_tokens: 8, messages: [{ role: "user", content: "Hi" }] };

function refusal(body: Record<string, unknown>): string | undefined {
  try {
    refuseUnsupportedMessagesParams({ ...base, ...body });
  } catch (error) {
    if (error instanceof HttpError && error.status === 400) return error.toAnthropicBody().error.message;
    throw error;
  }
  return undefined;
}

describe("refuseUnsupportedMessagesParams", () => {
  it("refuses other APIs' n and logprobs as Anthropic refuses extra inputs", () => {
    expect(refusal({ n: 2 })).toBe("n: Extra inputs are not permitted");
    expect(refusal({ top_logprobs: 2 })).toBe("top_logprobs: Extra inputs are not permitted");
  });

  it("refuses MCP servers, containers and Anthropic's own tool types, naming them", () => {
    expect(refusal({ mcp_servers: [{ type: "url", url: "https://x", name: "x" }] })).toMatch(
      /^mcp_servers: /,
    );
    expect(refusal({ container: "container_1" })).toMatch(/^container: /);
    const tools = [
      { name: "f", input_schema: { type: "object" } },
      { type: "web_search_20250305", name: "web_search" },
    ];
    expect(refusal({ tools })).toMatch(/^tools\.1: tools of type 'web_search_20250305'/);
  });

  it("lets through custom tools, empty server lists and fields it may ignore", () => {
    const tools = [{ type: "custom", name: "f", input_schema: { type: "object" } }];
    expect(refusal({ tools, mcp_servers: [], service_tier: "auto", context_management: {} })).toBeUndefined();
  });
});
