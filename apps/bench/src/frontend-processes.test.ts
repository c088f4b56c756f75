import { describe, expect, it } from "vitest";
import { failureReason, formatFailures, parseProcessCounts } from "./frontend-processes.js";

describe("parseProcessCounts", () => {
  it("reads a comma-separated list in order, spaces allowed", () => {
    expect(parseProcessCounts("1,2")).toEqual([1, 2]);
    expect(parseProcessCounts("4, 1 ,2")).toEqual([4, 1, 2]);
    expect(parseProcessCounts("3")).toEqual([3]);
  });

  it("refuses zero, negatives, fractions, empty entries and repeats, naming the entry", () => {
    expect(() => parseProcessCounts("0,1")).toThrow("got '0' in '0,1'");
    expect(() => parseProcessCounts("-1")).toThrow("got '-1'");
    expect(() => parseProcessCounts("1.5")).toThrow("got '1.5'");
    expect(() => parseProcessCounts("1,,2")).toThrow("got ''");
    expect(() => parseProcessCounts("two")).toThrow("positive integers");
    expect(() => parseProcessCounts("1,2,1")).toThrow("lists 1 twice");
  });
});

describe("failureReason", () => {
  it("prefers a socket error's code", () => {
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    expect(failureReason(reset)).toBe("ECONNRESET");
  });

  it("falls back to the first line of the message, then the name", () => {
    expect(failureReason(new Error("HTTP 503"))).toBe("HTTP 503");
    expect(failureReason(new Error("no usage event\nmore detail"))).toBe("no usage event");
    expect(failureReason(new TypeError(""))).toBe("TypeError");
    expect(failureReason("plain")).toBe("plain");
  });
});

describe("formatFailures", () => {
  it("prints none, or the reasons most frequent first", () => {
    expect(formatFailures({})).toBe("none");
    expect(formatFailures({ "HTTP 503": 0 })).toBe("none");
    expect(formatFailures({ ECONNRESET: 1, "HTTP 503": 3 })).toBe("HTTP 503 ×3, ECONNRESET ×1");
    expect(formatFailures({ b: 2, a: 2 })).toBe("a ×2, b ×2");
  });
});
