import { describe, expect, it } from "vitest";
import { formatTable, toJson } from "./report.js";

describe("formatTable", () => {
  it("aligns text left and numbers right under a rule", () => {
    const table = formatTable(
      ["mode", "p50"],
      [
        ["rr", 1.5],
        ["kv", 12],
        ["none", Number.NaN],
      ],
    );
    expect(table.split("\n")).toEqual(["mode   p50", "----  ----", "rr    1.50", "kv      12", "none     -"]);
  });
});

describe("toJson", () => {
  it("writes bigints as strings and non-finite numbers as null", () => {
    expect(JSON.parse(toJson({ id: 2n ** 64n - 1n, p: Number.NaN, q: 1 }))).toEqual({
      id: "18446744073709551615",
      p: null,
      q: 1,
    });
  });
});
