import { describe, expect, it } from "vitest";
import { assertSubject, kvEventsSubject, loadMetricsSubject, subjectMatches } from "./subjects.js";

describe("subjects", () => {
  it("names the KV event and load metric subjects", () => {
    expect(kvEventsSubject("dynamo", "backend")).toBe("kvasir.dynamo.backend.kv_events");
    expect(loadMetricsSubject("ns", "decode")).toBe("kvasir.ns.decode.load_metrics");
  });

  it.each([
    ["a.b.c", "a.b.c", true],
    ["a.b.c", "a.b", false],
    ["a.b", "a.b.c", false],
    ["a.*.c", "a.x.c", true],
    ["a.*.c", "a.x.y.c", false],
    ["*", "a", true],
    ["*", "a.b", false],
    ["a.>", "a.b", true],
    ["a.>", "a.b.c.d", true],
    ["a.>", "a", false],
    [">", "a.b", true],
    ["*.*.>", "a.b.c", true],
    ["*.*.>", "a.b", false],
    ["kvasir.*.*.kv_events", "kvasir.ns.backend.kv_events", true],
    ["kvasir.*.*.kv_events", "kvasir.ns.backend.load_metrics", false],
  ])("%s matches %s: %s", (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });

  it("rejects malformed subjects and wildcards in published subjects", () => {
    for (const bad of ["", "a..b", ".a", "a.", "a b", "a.>.b"])
      expect(() => assertSubject(bad, true)).toThrow();
    expect(() => assertSubject("a.*", false)).toThrow(/wildcards/);
    expect(() => assertSubject("a.>", false)).toThrow(/wildcards/);
    expect(() => assertSubject("a.*.>", true)).not.toThrow();
  });
});
