// `GET /v1/responses/{id}/input_items`: the items a stored response was generated from, as OpenAI lists them
// (`ResponseItemList` and `InputItemListParams` in the `openai` npm package: `object: "list"`, `data`, `first_id`,
// `last_id`, `has_more`; `limit` 1..100 default 20, `order` asc|desc default desc, `after`/`before` item ids).
import type { ResponsesInputItem, ResponsesRequest } from "@kvasir/llm";
import { HttpError } from "../errors.js";
import { itemId } from "./responses-ids.js";

/** An item as the API lists it: with an id and a status. */
export type ListedItem = Record<string, unknown> & { id: string };

type Part = Exclude<Extract<ResponsesInputItem, { type: "message" }>["content"], string>[number];

function parts(content: string | readonly Part[], role: string): unknown[] {
  // A string is one text part: the model's own text (an earlier assistant turn) is output_text.
  if (typeof content === "string")
    return [
      role === "assistant"
        ? { type: "output_text", text: content, annotations: [] }
        : { type: "input_text", text: content },
    ];
  return [...content];
}

/**
 * The request's input as listed items: a string is one user message; items keep the id they were sent with or get
 * one. Instructions are not an item (as OpenAI). Called after the input was accepted, so no item is unsupported.
 */
export function toListedItems(input: ResponsesRequest["input"]): ListedItem[] {
  if (typeof input === "string") {
    return [
      {
        id: itemId("msg"),
        type: "message",
        role: "user",
        content: parts(input, "user"),
        status: "completed",
      },
    ];
  }
  return input.flatMap((item): ListedItem[] => {
    switch (item.type) {
      case "message":
        return [
          {
            id: item.id ?? itemId("msg"),
            type: "message",
            role: item.role,
            content: parts(item.content, item.role),
            status: item.status ?? "completed",
          },
        ];
      case "function_call":
        return [{ ...item, id: item.id ?? itemId("fc"), status: item.status ?? "completed" }];
      case "function_call_output":
        return [{ ...item, id: item.id ?? itemId("fco"), status: item.status ?? "completed" }];
      case "reasoning":
        return [{ ...item, id: item.id ?? itemId("rs") }];
      default:
        return [];
    }
  });
}

export interface ListQuery {
  limit?: string | undefined;
  order?: string | undefined;
  after?: string | undefined;
  before?: string | undefined;
}

const invalid = (param: string, message: string) => new HttpError(400, message, "invalid_value", param);

/** One page of `items` (oldest first) as OpenAI's list object; bad parameters get OpenAI's 400 naming them. */
export function listPage(items: readonly ListedItem[], query: ListQuery) {
  const limit = query.limit === undefined ? 20 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw invalid("limit", `Invalid 'limit': integer between 1 and 100 expected, got '${query.limit}'.`);
  }
  const order = query.order ?? "desc";
  if (order !== "asc" && order !== "desc") {
    throw invalid("order", `Invalid 'order': expected 'asc' or 'desc', got '${order}'.`);
  }
  const ordered = order === "asc" ? items : [...items].reverse();
  const indexOf = (param: "after" | "before", id: string) => {
    const at = ordered.findIndex((item) => item.id === id);
    if (at < 0) throw invalid(param, `No input item with id '${id}' in this response.`);
    return at;
  };
  const start = query.after === undefined ? 0 : indexOf("after", query.after) + 1;
  const end = query.before === undefined ? ordered.length : indexOf("before", query.before);
  const data = ordered.slice(start, Math.max(start, Math.min(end, start + limit)));
  return {
    object: "list" as const,
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: start + limit < end,
  };
}
