import { FlagError, parseFlags } from "@kvasir/runtime";
import { describe, expect, it } from "vitest";
import { mockerCommand } from "./command.js";
import { simulatorConfigFromFlags } from "./config.js";
import { parseKvEventsConfig } from "./kv-events-config.js";

const config = (...argv: string[]) => simulatorConfigFromFlags(parseFlags(mockerCommand.flags, argv, {}));

describe("kvasir mocker flags", () => {
  it("takes vLLM's spellings and defaults", () => {
    const c = config(
      "--model",
      "m",
      "--block-size",
      "32",
      "--max-num-seqs",
      "8",
      "--no-enable-prefix-caching",
    );
    expect(c).toMatchObject({
      protocol: "vllm",
      host: "0.0.0.0",
      port: 8000,
      servedModelName: "m",
      metrics: true,
    });
    expect(c.engine).toMatchObject({
      blockSize: 32,
      maxNumSeqs: 8,
      enablePrefixCaching: false,
      maxModelLen: 40960,
    });
  });

  it("takes SGLang's spellings and defaults", () => {
    const c = config(
      "--protocol",
      "sglang",
      "--model-path",
      "m",
      "--page-size",
      "4",
      "--max-total-tokens",
      "400",
      "--disaggregation-mode",
      "prefill",
      "--context-length",
      "2048",
    );
    expect(c).toMatchObject({
      host: "127.0.0.1",
      port: 30000,
      disaggregationMode: "prefill",
      metrics: false,
    });
    expect(c.engine).toMatchObject({ blockSize: 4, numGpuBlocks: 100, maxModelLen: 2048 });
  });

  it("accepts and ignores the engine's GPU flags, and names them", () => {
    expect(config("--tensor-parallel-size", "2", "--enforce-eager").ignored).toEqual([
      "tensor-parallel-size",
      "enforce-eager",
    ]);
  });

  it("refuses the other engine's flags and unknown ones", () => {
    expect(() => config("--page-size", "16")).toThrow(/--page-size is not a vLLM flag/);
    expect(() => config("--protocol", "sglang", "--enforce-eager")).toThrow(FlagError);
    expect(() => config("--warp-speed", "9")).toThrow(/unknown flag/);
  });

  it("reads LoRA names and the transfer config", () => {
    const c = config(
      "--lora-modules",
      "sql=/loras/sql",
      "--kv-transfer-config",
      '{"kv_connector":"NixlConnector"}',
    );
    expect(c.loras).toEqual(["sql"]);
    expect(c.kvTransfer).toEqual({ connector: "NixlConnector", role: "kv_both" });
  });
});

describe("--kv-events-config", () => {
  it("publishes only when vLLM's config enables events", () => {
    expect(parseKvEventsConfig("vllm", '{"publisher":"zmq"}')).toBeUndefined();
    expect(parseKvEventsConfig("vllm", '{"enable_kv_cache_events":true,"topic":"t"}')).toEqual({
      endpoint: "tcp://*:5557",
      topic: "t",
      bufferSteps: 10_000,
    });
  });

  it("takes SGLang's keys, publisher null by default, and refuses unknown keys", () => {
    expect(parseKvEventsConfig("sglang", '{"endpoint":"tcp://*:1"}')).toBeUndefined();
    expect(parseKvEventsConfig("sglang", '{"publisher":"zmq","replay_endpoint":"tcp://*:2"}')).toMatchObject({
      replayEndpoint: "tcp://*:2",
    });
    expect(() =>
      parseKvEventsConfig("sglang", '{"publisher":"zmq","enable_kv_cache_events":true}'),
    ).toThrow();
    expect(() => parseKvEventsConfig("vllm", "{nope")).toThrow(/not JSON/);
  });
});
