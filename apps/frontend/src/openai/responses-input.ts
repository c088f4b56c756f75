// A Responses API request in the chat template's terms: `instructions` and input items become chat messages, and
// function tools, tool_choice and text.format become the chat completions fields the engine parameters are
// derived from (so a Responses request is constrained exactly as the same chat request would be).
import type { ChatTemplateMessage, ResponsesInputItem, ResponsesRequest } from "@kvasir/llm";
import { badRequest } from "../errors.js";

type ChatToolCall = { id: string; type: "function"; function: { name: string; arguments: string } };

type ContentParts = Extract<ResponsesInputItem, { type: "message" }>["content"];

function textOf(content: ContentParts, param: string): string {
  if (typeof content === "string") return content;
  return content
    .map((part, j) => {
      if (part.type === "refusal") return part.refusal;
      if (part.type !== "unsupported") return part.text;
      throw badRequest(
        `Input content of type '${part.part_type}' is not supported by this model.`,
        `${param}[${j}]`,
      );
    })
    .join("");
}

/**
 * The input items as chat messages: `developer` speaks as `system` (the templates know no developer role),
 * consecutive function calls join one assistant turn, a reasoning item is the next assistant turn's
 * `reasoning_content`, and a function call's output is a `tool` message.
 */
export function inputMessages(input: ResponsesRequest["input"]): ChatTemplateMessage[] {
  if (typeof input === "string") return [{ role: "user", content: input }];
  const out: ChatTemplateMessage[] = [];
  let reasoning = "";
  // The assistant message function calls are added to, while no other item came between.
  let turn: ChatTemplateMessage & { tool_calls?: ChatToolCall[] } = { role: "assistant" };
  let turnOpen = false;
  const openTurn = (content: string) => {
    turn = { role: "assistant", content };
    if (reasoning) turn.reasoning_content = reasoning;
    reasoning = "";
    out.push(turn);
    turnOpen = true;
  };
  input.forEach((item, i) => {
    const param = `input[${i}]`;
    switch (item.type) {
      case "message": {
        const text = textOf(item.content, `${param}.content`);
        if (item.role === "assistant") {
          openTurn(text);
          return;
        }
        out.push({ role: item.role === "developer" ? "system" : item.role, content: text });
        turnOpen = false;
        return;
      }
      case "function_call": {
        if (!turnOpen) openTurn("");
        const call = {
          id: item.call_id,
          type: "function" as const,
          function: { name: item.name, arguments: item.arguments },
        };
        turn.tool_calls = [...(turn.tool_calls ?? []), call];
        return;
      }
      case "function_call_output": {
        const content =
          typeof item.output === "string" ? item.output : textOf(item.output, `${param}.output`);
        out.push({ role: "tool", tool_call_id: item.call_id, content });
        turnOpen = false;
        return;
      }
      case "reasoning": {
        const parts = item.content?.length ? item.content : item.summary;
        reasoning += parts.map((p) => p.text).join("\n");
        turnOpen = false;
        return;
      }
      case "unsupported":
        throw badRequest(`Input items of type '${item.item_type}' are not supported.`, param);
    }
  });
  return out;
}

/** Chat completions fields a Responses request maps to: tools, tool_choice, parallel_tool_calls, response_format. */
export interface ChatFields {
  tools?: {
    type: "function";
    function: { name: string; description?: string; parameters?: Record<string, unknown> };
  }[];
  tool_choice?: "none" | "auto" | "required" | { type: "function"; function: { name: string } };
  parallel_tool_calls?: boolean;
  response_format?:
    | { type: "text" }
    | { type: "json_object" }
    | {
        type: "json_schema";
        json_schema: {
          name: string;
          schema: Record<string, unknown>;
          description?: string;
          strict?: boolean;
        };
      };
}

/**
 * Function tools in chat's shape; `tool_choice: "none"` leaves them out of the prompt (the model is not shown
 * tools it may not call). Other tool types (web_search, file_search, ...) are hosted by OpenAI: refused.
 */
export function chatFields(body: ResponsesRequest): ChatFields {
  const fields: ChatFields = {};
  const tools = (body.tools ?? []).map((tool, i) => {
    if (tool.type === "unsupported") {
      throw badRequest(
        `Tools of type '${tool.tool_type}' are not supported; only function tools are.`,
        `tools[${i}]`,
      );
    }
    const fn: { name: string; description?: string; parameters?: Record<string, unknown> } = {
      name: tool.name,
    };
    if (tool.description != null) fn.description = tool.description;
    if (tool.parameters != null) fn.parameters = tool.parameters;
    return { type: "function" as const, function: fn };
  });
  const choice = body.tool_choice ?? undefined;
  if (choice === "none") fields.tool_choice = "none";
  else if (tools.length > 0) fields.tools = tools;
  if (choice !== undefined && choice !== "none" && choice !== "auto" && tools.length === 0) {
    throw badRequest("tool_choice requires at least one function tool in 'tools'.", "tool_choice");
  }
  if (typeof choice === "object") {
    if (!tools.some((t) => t.function.name === choice.name)) {
      throw badRequest(`No function named '${choice.name}' in 'tools'.`, "tool_choice.name");
    }
    fields.tool_choice = { type: "function", function: { name: choice.name } };
  } else if (choice === "auto" || choice === "required") fields.tool_choice = choice;
  if (body.parallel_tool_calls != null) fields.parallel_tool_calls = body.parallel_tool_calls;
  const format = body.text?.format;
  if (format?.type === "json_schema") {
    const { name, schema, description, strict } = format;
    fields.response_format = {
      type: "json_schema",
      json_schema: {
        name,
        schema,
        ...(description != null ? { description } : {}),
        ...(strict != null ? { strict } : {}),
      },
    };
  } else if (format) fields.response_format = { type: format.type };
  return fields;
}
