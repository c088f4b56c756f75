import { describe, expect, it } from "vitest";
import { HttpError } from "../errors.js";
import { type ListedItem, listPage, toListedItems } from "./responses-items.js";

const items: ListedItem[] = ["a", "b", "c", "d", "e"].map((id) => ({ id, type: "message" }));
const ids = (page: { data: ListedItem[] }) => page.data.map((item) => item.id);

describe("listPage", () => {
  it("lists newest first by default, oldest first with order=asc", () => {
    const page = listPage(items, {});
    expect(ids(page)).toEqual(["e", "d", "c", "b", "a"]);
    expect(page).toMatchObject({ object: "list", first_id: "e", last_id: "a", has_more: false });
    expect(ids(listPage(items, { order: "asc" }))).toEqual(["a", "b", "c", "d", "e"]);
  });

  it("pages with limit and after, as the SDK's cursor pages follow last_id", () => {
    const first = listPage(items, { order: "asc", limit: "2" });
    expect(ids(first)).toEqual(["a", "b"]);
    expect(first.has_more).toBe(true);
    const second = listPage(items, { order: "asc", limit: "2", after: first.last_id ?? "" });
    expect(ids(second)).toEqual(["c", "d"]);
    const last = listPage(items, { order: "asc", limit: "2", after: "d" });
    expect(ids(last)).toEqual(["e"]);
    expect(last.has_more).toBe(false);
    expect(ids(listPage(items, { limit: "2", after: "d" }))).toEqual(["c", "b"]);
  });

  it("stops before `before` in the listing's order", () => {
    expect(ids(listPage(items, { order: "asc", before: "c" }))).toEqual(["a", "b"]);
    const page = listPage(items, { before: "b", limit: "2" });
    expect(ids(page)).toEqual(["e", "d"]);
    expect(page.has_more).toBe(true);
    const empty = listPage(items, { after: "c", before: "c" });
    expect(empty).toMatchObject({ data: [], first_id: null, last_id: null, has_more: false });
  });

  it("refuses a bad limit, order or cursor naming the parameter", () => {
    for (const [query, param] of [
      [{ limit: "0" }, "limit"],
      [{ limit: "101" }, "limit"],
      [{ limit: "two" }, "limit"],
      [{ order: "up" }, "order"],
      [{ after: "zz" }, "after"],
      [{ before: "zz" }, "before"],
    ] as const) {
      const error = (() => {
        try {
          listPage(items, query);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(HttpError);
      expect(error).toMatchObject({ status: 400, param });
    }
  });
});

describe("toListedItems", () => {
  it("makes a string input one user message and keeps the ids items were sent with", () => {
    const [message] = toListedItems("Hi");
    expect(message).toMatchObject({
      type: "message",
      role: "user",
      content: [{ type: "input_text", text: "Hi" }],
      status: "completed",
    });
    expect(message?.id).toMatch(/^msg_/);
    const listed = toListedItems([
      { type: "message", role: "assistant", content: "Sure." },
      { type: "function_call", id: "fc_1", call_id: "call_1", name: "f", arguments: "{}" },
      { type: "function_call_output", call_id: "call_1", output: "42" },
    ]);
    expect(listed[0]).toMatchObject({ role: "assistant", content: [{ type: "output_text", text: "Sure." }] });
    expect(listed[1]).toMatchObject({ id: "fc_1", call_id: "call_1", status: "completed" });
    expect(listed[2]?.id).toMatch(/^fco_/);
  });
});
