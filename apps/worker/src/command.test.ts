import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultModelDir } from "@kvasir/llm";
import { parseFlags } from "@kvasir/runtime";
import { describe, expect, it } from "vitest";
import { workerCommand } from "./command.js";

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  workerCommand.toConfig(parseFlags(workerCommand.flags, argv, env, workerCommand.refused));

describe("kvasir worker flags", () => {
  it("takes the dstack recipe's dynamo.sglang line, with its environment and KV transfer backend", () => {
    const model = mkdtempSync(join(tmpdir(), "kvasir-model-"));
    const argv = [
      ...["--model-path", model, "--served-model-name", "zai-org/GLM-4.5-Air-FP8"],
      ...["--discovery-backend", "etcd", "--host", "0.0.0.0", "--page-size", "64"],
      ...["--disaggregation-mode", "prefill"],
    ];
    const env = {
      ETCD_ENDPOINTS: "http://10.0.0.2:2379",
      NATS_SERVER: "nats://10.0.0.2:4222",
      DYN_SYSTEM_PORT: "8000",
    };
    const config = parse(argv, env);
    expect(config).toMatchObject({
      modelPath: model,
      servedModelNames: ["zai-org/GLM-4.5-Air-FP8"],
      host: "0.0.0.0",
      systemPort: 8000,
      disaggregationMode: "prefill",
    });
    expect(config.engine.mocker.blockSize).toBe(64);
    expect(config.runtime.discovery).toMatchObject({
      backend: "etcd",
      etcdEndpoints: "http://10.0.0.2:2379",
    });
    expect(config.runtime.eventPlane.backend).toBe("nats");
    // Either backend maps onto the native transfer engine; anything else is a usage error.
    for (const backend of ["nixl", "mooncake"]) {
      expect(parse([...argv, "--disaggregation-transfer-backend", backend], env).disaggregationMode).toBe(
        "prefill",
      );
    }
    expect(() => parse([...argv, "--disaggregation-transfer-backend", "ucx"], env)).toThrow(/nixl, mooncake/);
  });

  it("derives the KV bytes per token from the simulated model and takes the transfer lease and timeout", () => {
    const config = parse([]);
    expect(config.engine.mocker.kvBytesPerToken).toBe(28 * 8 * 128 * 2 * 2);
    expect(config.kvTransfer).toEqual({ leaseSeconds: 30, timeoutSeconds: 30, maxHeldBytes: 8 * 2 ** 30 });
    const custom = parse([
      "--kv-bytes-per-token",
      "4096",
      "--kv-transfer-lease",
      "5",
      "--kv-transfer-timeout",
      "2",
      "--kv-transfer-max-held-mb",
      "64",
    ]);
    expect(custom.engine.mocker.kvBytesPerToken).toBe(4096);
    expect(custom.kvTransfer).toEqual({ leaseSeconds: 5, timeoutSeconds: 2, maxHeldBytes: 64 * 2 ** 20 });
    expect(() => parse(["--kv-bytes-per-token", "0"])).toThrow(/--kv-bytes-per-token/);
  });

  it("serves the quickstart's --model Qwen/Qwen3-0.6B from the bundled tokenizer, named as given", () => {
    const config = parse(["--model", "Qwen/Qwen3-0.6B", "--discovery-backend", "file"]);
    expect(config.modelPath).toBe(defaultModelDir());
    expect(config.servedModelNames).toEqual(["Qwen/Qwen3-0.6B"]);
    // Other ids are fetched into the Hugging Face cache before the worker registers (issue 13).
    expect(parse(["--model-path", "meta-llama/Llama-3.1-8B"]).modelFiles).toMatchObject({
      modelId: "meta-llama/Llama-3.1-8B",
      revision: "main",
    });
    expect(() => parse(["--model-path", "/no/such/dir"])).toThrow(
      /not a directory, an s3:\/\/ URL or a Hugging Face id/,
    );
  });

  it("accepts Dynamo's mocker spellings for the same settings", () => {
    const config = parse([
      "--block-size",
      "32",
      "--num-gpu-blocks-override",
      "100",
      "--max-model-len",
      "2048",
    ]);
    expect(config.engine.mocker).toMatchObject({ blockSize: 32, numGpuBlocks: 100, maxModelLen: 2048 });
    expect(parse(["--data-parallel-size", "2"]).engine.mocker.dataParallelSize).toBe(2);
    expect(parse(["--no-enable-prefix-caching"]).engine.mocker.enablePrefixCaching).toBe(false);
  });

  it("defaults the block size to DEFAULT_KV_BLOCK_SIZE and the status server to off", () => {
    const config = parse([]);
    expect(config.engine.mocker.blockSize).toBe(16);
    expect(config.systemPort).toBeUndefined();
    expect(config.servedModelNames).toEqual(["Qwen/Qwen3-0.6B"]);
  });

  it("refuses engine and deprecated flags with what to use instead", () => {
    expect(() => parse(["--is-prefill-worker"])).toThrow(/use --disaggregation-mode prefill/);
    expect(() => parse(["--dyn-tool-call-parser", "hermes"])).toThrow(/to `kvasir frontend`/);
    expect(() => parse(["--tensor-parallel-size", "8"])).toThrow(/mocker cannot honour.*--engine-command/);
    expect(() => parse(["--enforce-eager"])).toThrow(/--engine-command/);
    for (const flag of ["--tensor-parallelism", "--tp-size", "--enable-dp-attention", "--dist-init-addr"])
      expect(() => parse([flag, "2"])).toThrow(/mocker cannot honour/);
    expect(() => parse(["--kv-events-config", '{"enable_kv_cache_events": false}'])).toThrow(
      /--kv-events-publisher zmq/,
    );
    expect(() => parse(["--load-format", "mx"])).toThrow(/--model-express-url/);
    // Dynamo's operator injects MODEL_EXPRESS_URL into every pod, so the variable alone must not stop a worker.
    expect(parse([], { MODEL_EXPRESS_URL: "http://mx:8001" }).engine.backend).toBe("mocker");
    const fetched = parse(["--model", "acme/tiny", "--model-express-url", "http://mx:8001"]);
    expect(fetched.modelFiles).toMatchObject({ modelId: "acme/tiny", expressUrl: "http://mx:8001" });
    expect(() => parse(["--speedup-ratio", "0"])).toThrow(/--speedup-ratio must be positive/);
  });
});
