import { describe, expect, it } from "vitest";
import { encodeSseJson, parseSseBody, SSE_DONE, SSE_DONE_FRAME, SseParser } from "./sse.js";

describe("SSE framing", () => {
  it("writes one compact data line per chunk and the [DONE] frame", () => {
    expect(encodeSseJson({ a: 1, b: [2] })).toBe('data: {"a":1,"b":[2]}\n\n');
    expect(SSE_DONE_FRAME).toBe("data: [DONE]\n\n");
  });

  it("reassembles frames split across reads", () => {
    const parser = new SseParser();
    expect(parser.push('data: {"x"')).toEqual([]);
    expect(parser.push(":1}\n")).toEqual([]);
    expect(parser.push("\ndata: [DONE]\n\n")).toEqual(['{"x":1}', SSE_DONE]);
  });

  it("accepts CRLF separators, comments and multi-line data", () => {
    expect(parseSseBody(": ping\r\n\r\ndata: a\r\ndata: b\r\n\r\ndata:c")).toEqual(["a\nb", "c"]);
  });
});
