import type { FlagSpec } from "@kvasir/runtime";
import { describe, expect, it } from "vitest";
import { readBenchFlags } from "./flags.js";

const specs: FlagSpec[] = [
  { name: "streams", type: "number", default: 4, help: "Parallel streams" },
  { name: "regenerate", type: "boolean", default: false, help: "Rebuild the cache" },
];

describe("readBenchFlags", () => {
  it("returns defaults and command-line values", () => {
    expect(readBenchFlags("bench:x", "X.", specs, ["--streams", "2"], {})).toEqual({
      kind: "values",
      values: { streams: 2, regenerate: false },
    });
    expect(readBenchFlags("bench:x", "X.", specs, ["--regenerate"], {})).toEqual({
      kind: "values",
      values: { streams: 4, regenerate: true },
    });
  });

  it("gives the help text, with the pnpm script as the usage line", () => {
    const outcome = readBenchFlags("bench:x", "Measures x.", specs, ["--help"], {});
    expect(outcome.kind).toBe("help");
    if (outcome.kind === "help") {
      expect(outcome.text).toContain("Usage: pnpm bench:x [flags]");
      expect(outcome.text).toContain("--streams <number>");
    }
  });

  it("names the script and the bad flag in the error", () => {
    const unknown = readBenchFlags("bench:x", "X.", specs, ["--stream", "2"], {});
    expect(unknown).toMatchObject({ kind: "error" });
    if (unknown.kind === "error") {
      expect(unknown.message).toMatch(/^bench:x: unknown flag '--stream'/);
      expect(unknown.message).toContain("pnpm bench:x --help");
    }
    const notNumber = readBenchFlags("bench:x", "X.", specs, ["--streams", "four"], {});
    if (notNumber.kind !== "error") throw new Error("expected an error");
    expect(notNumber.message).toContain("--streams needs a number, got 'four'");
  });
});
