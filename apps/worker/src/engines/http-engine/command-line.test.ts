import { describe, expect, it } from "vitest";
import {
  engineModelOf,
  flagValue,
  hasFlag,
  intFlag,
  joinCommand,
  jsonFlag,
  leadingEnv,
  splitCommand,
} from "./command-line.js";

describe("splitCommand", () => {
  it("splits like a POSIX shell: quotes, escapes, runs of blanks", () => {
    expect(splitCommand("vllm serve  Qwen/Qwen3-0.6B\t--max-model-len 4096")).toEqual([
      "vllm",
      "serve",
      "Qwen/Qwen3-0.6B",
      "--max-model-len",
      "4096",
    ]);
    expect(splitCommand(`vllm serve m --kv-events-config '{"enable_kv_cache_events": true}'`)).toEqual([
      "vllm",
      "serve",
      "m",
      "--kv-events-config",
      '{"enable_kv_cache_events": true}',
    ]);
    expect(splitCommand(`a "b \\"c\\" d" e\\ f ''`)).toEqual(["a", 'b "c" d', "e f", ""]);
  });

  it("refuses an empty command and an open quote", () => {
    expect(() => splitCommand("   ")).toThrow(/empty/);
    expect(() => splitCommand("vllm serve 'm")).toThrow(/unterminated ' quote/);
  });

  it("joins back into a line that splits the same", () => {
    const argv = ["vllm", "serve", "m", "--kv-events-config", '{"a": "it\'s"}'];
    expect(splitCommand(joinCommand(argv))).toEqual(argv);
  });
});

describe("reading flags", () => {
  const argv = ["vllm", "serve", "m", "--port=9000", "--block-size", "32", "--enforce-eager", "--x", "{}"];

  it("reads --flag value and --flag=value, last one winning", () => {
    expect(flagValue(argv, ["--port"])).toBe("9000");
    expect(intFlag(argv, ["--block-size"])).toBe(32);
    expect(flagValue(argv, ["--enforce-eager"])).toBe(true);
    expect(flagValue([...argv, "--port", "9001"], ["--port"])).toBe("9001");
    expect(intFlag(argv, ["--max-num-seqs"])).toBeUndefined();
    expect(jsonFlag(argv, ["--x"])).toEqual({});
  });

  it("sees negated switches and refuses values of the wrong kind", () => {
    expect(hasFlag(["--no-enable-prefix-caching"], ["--enable-prefix-caching"])).toBe(true);
    expect(hasFlag(argv, ["--enable-prefix-caching"])).toBe(false);
    expect(() => intFlag(["--port", "x"], ["--port"])).toThrow(
      /--port in the engine command must be an integer/,
    );
    expect(() => jsonFlag(["--kv-events-config", "[1]"], ["--kv-events-config"])).toThrow(/JSON object/);
  });

  it("finds the model of vllm serve and of SGLang's launcher", () => {
    expect(engineModelOf(["vllm", "serve", "Qwen/Qwen3-0.6B", "--port", "1"])).toBe("Qwen/Qwen3-0.6B");
    expect(engineModelOf(["vllm", "serve", "--model", "m2"])).toBe("m2");
    expect(engineModelOf(["python", "-m", "sglang.launch_server", "--model-path", "m3"])).toBe("m3");
    expect(engineModelOf(["engine"])).toBeUndefined();
  });
});

describe("leadingEnv", () => {
  it("takes NAME=value words before the program as its environment, as a shell does", () => {
    expect(leadingEnv(splitCommand("CUDA_VISIBLE_DEVICES=1 VLLM_LOGGING_LEVEL=DEBUG vllm serve m"))).toEqual({
      env: { CUDA_VISIBLE_DEVICES: "1", VLLM_LOGGING_LEVEL: "DEBUG" },
      argv: ["vllm", "serve", "m"],
    });
    // Assignments after the program are its arguments; a lone assignment is not a command.
    expect(leadingEnv(["vllm", "A=1"])).toEqual({ env: {}, argv: ["vllm", "A=1"] });
    expect(leadingEnv(["A=1"])).toEqual({ env: {}, argv: ["A=1"] });
  });
});
