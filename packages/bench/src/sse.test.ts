import { describe, expect, it } from "vitest";
import { SseDecoder } from "./sse.js";

describe("SseDecoder", () => {
  it("yields data of complete events across arbitrary chunk boundaries", () => {
    const sse = new SseDecoder();
    expect(sse.push('data: {"a"')).toEqual([]);
    expect(sse.push(":1}\n\ndata: x\r\n\r\n: comment\n\ndata: [DO")).toEqual(['{"a":1}', "x"]);
    expect(sse.push("NE]\n\n")).toEqual(["[DONE]"]);
  });

  it("joins multi-line data", () => {
    expect(new SseDecoder().push("event: e\ndata: one\ndata:two\n\n")).toEqual(["one\ntwo"]);
  });
});
