import { parseFlags } from "@kvasir/runtime";
import { describe, expect, it } from "vitest";
import { serveCommand } from "./serve.js";

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  serveCommand.toConfig(parseFlags(serveCommand.flags, argv, env, serveCommand.refused));

describe("kvasir serve flags", () => {
  it("takes a flag both apps define once, with the same meaning for both", () => {
    const config = parse([
      "--kv-cache-block-size",
      "64",
      "--drain-timeout",
      "5",
      "--advertise-host",
      "10.0.0.3",
    ]);
    expect(config.worker.engine.mocker.blockSize).toBe(64);
    expect(config.frontend.blockSize).toBe(64);
    expect(config.frontend.drainTimeoutSeconds).toBe(5);
    expect(config.worker.drainTimeoutSeconds).toBe(5);
    expect(config.frontend.advertiseHost).toBe("10.0.0.3");
    expect(config.worker.advertiseHost).toBe("10.0.0.3");
  });

  it("gives the status port to the frontend only, and binds workers on loopback", () => {
    const config = parse([], { DYN_SYSTEM_PORT: "8081" });
    expect(config.frontend.systemPort).toBe(8081);
    expect(config.worker.systemPort).toBeUndefined();
    expect(config.worker).toMatchObject({ host: "127.0.0.1", port: 0 });
    expect(() => parse(["--host", "0.0.0.0"])).toThrow(/unknown flag '--host'/);
  });

  it("runs one vLLM or SGLang worker by default, each worker with an engine of its own", () => {
    const vllm = ["--backend", "vllm", "--engine-command", "vllm serve Qwen/Qwen3-0.6B"];
    expect(parse(vllm).workers).toEqual({ agg: 1, prefill: 0, decode: 0 });
    expect(parse([...vllm, "--workers", "2"]).worker.engine).toMatchObject({
      backend: "vllm",
      http: { engineCommand: "vllm serve Qwen/Qwen3-0.6B" },
    });
    expect(() =>
      parse(["--backend", "vllm", "--engine-command", "vllm serve m --port 8000", "--workers", "2"]),
    ).toThrow(/leave --port out/);
    expect(() => parse(["--backend", "sglang", "--engine-url", "http://e:30000", "--workers", "2"])).toThrow(
      /--engine-url attaches one worker to one engine/,
    );
    expect(() => parse(["--backend", "vllm"])).toThrow(
      /needs exactly one of --engine-command and --engine-url/,
    );
  });

  it("refuses what either app refuses, and checks --workers", () => {
    expect(parse([]).frontend.enableAnthropicApi).toBe(true);
    expect(parse(["--no-enable-anthropic-api"]).frontend.enableAnthropicApi).toBe(false);
    expect(() => parse(["--tensor-parallel-size", "2"])).toThrow(/--engine-command/);
    expect(() => parse(["--workers", "0"])).toThrow(/at least one aggregated/);
    expect(() => parse(["--workers", "-1"])).toThrow(/--workers/);
    // The worker refuses the parser flags (the frontend takes them); serve takes them.
    expect(parse(["--dyn-tool-call-parser", "hermes"]).frontend.toolCallParser).toBe("hermes");
    expect(serveCommand.refused.some((flag) => flag.name === "dyn-tool-call-parser")).toBe(false);
    expect(parse(["--workers", "3"]).workers).toEqual({ agg: 3, prefill: 0, decode: 0 });
    expect(parse([]).workers).toEqual({ agg: 2, prefill: 0, decode: 0 });
  });

  it("runs prefill and decode pools instead of aggregated workers when asked", () => {
    expect(parse(["--prefill-workers", "1", "--decode-workers", "2"]).workers).toEqual({
      agg: 0,
      prefill: 1,
      decode: 2,
    });
    expect(parse(["--prefill-workers", "1", "--decode-workers", "1", "--workers", "1"]).workers).toEqual({
      agg: 1,
      prefill: 1,
      decode: 1,
    });
    expect(() => parse(["--prefill-workers", "2"])).toThrow(/--decode-workers/);
  });
});
