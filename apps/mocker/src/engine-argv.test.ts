import { describe, expect, it } from "vitest";
import { normalizeEngineArgv } from "./engine-argv.js";

describe("normalizeEngineArgv", () => {
  it("spells vLLM's short flags long and leaves the rest", () => {
    expect(normalizeEngineArgv(["-dp", "2", "-tp=4", "--port", "-1"])).toEqual([
      "--data-parallel-size",
      "2",
      "--tensor-parallel-size=4",
      "--port",
      "-1",
    ]);
  });
});
