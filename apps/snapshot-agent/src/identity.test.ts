import { CheckpointIdentitySchema, create } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import {
  canonicalIdentity,
  checkpointId,
  IdentityError,
  identityFields,
  isCheckpointId,
} from "./identity.js";

const qwen = create(CheckpointIdentitySchema, {
  model: "Qwen/Qwen3-0.6B",
  backend: "vllm",
  backendVersion: "0.11.0",
  tensorParallelSize: 1,
  pipelineParallelSize: 1,
  dtype: "bfloat16",
  maxModelLen: 2048,
});

describe("checkpoint identity", () => {
  // Vectors computed outside this code: `printf '%s' '<canonical>' | openssl dgst -sha256`, first 16 hex.
  it("hashes the canonical identity to the first 16 hex characters of its SHA-256", () => {
    const fields = identityFields(qwen);
    expect(canonicalIdentity(fields)).toBe(
      '[["model","Qwen/Qwen3-0.6B"],["backend","vllm"],["backend_version","0.11.0"],["tensor_parallel_size",1],["pipeline_parallel_size",1],["dtype","bfloat16"],["max_model_len",2048],["extra_parameters",[]]]',
    );
    expect(checkpointId(fields)).toBe("36fd6dc4e4c0d7cc");
    const extra = identityFields({
      ...qwen,
      extraParameters: { quantization: "fp8", "enforce-eager": "true" },
    });
    expect(checkpointId(extra)).toBe("89b63443997366de");
  });

  it("gives the same id whatever order extra parameters come in, and defaults tp and pp to 1", () => {
    const a = identityFields({ ...qwen, extraParameters: { a: "1", b: "2" } });
    const b = identityFields({ ...qwen, extraParameters: { b: "2", a: "1" } });
    expect(checkpointId(a)).toBe(checkpointId(b));
    const unset = identityFields({ ...qwen, tensorParallelSize: 0, pipelineParallelSize: 0 });
    expect(checkpointId(unset)).toBe(checkpointId(identityFields(qwen)));
  });

  it("changes the id with every field that changes how the engine starts", () => {
    const base = checkpointId(identityFields(qwen));
    const variants = [
      { model: "Qwen/Qwen3-8B" },
      { backend: "sglang" },
      { backendVersion: "0.11.1" },
      { tensorParallelSize: 2 },
      { pipelineParallelSize: 2 },
      { dtype: "float16" },
      { maxModelLen: 4096 },
      { extraParameters: { quantization: "fp8" } },
    ];
    const ids = variants.map((change) => checkpointId(identityFields({ ...qwen, ...change })));
    expect(new Set([base, ...ids]).size).toBe(variants.length + 1);
  });

  it("refuses an identity without a model or backend", () => {
    expect(() => identityFields({ ...qwen, model: " " })).toThrow(IdentityError);
    expect(() => identityFields({ ...qwen, backend: "" })).toThrow(/backend/);
  });

  it("accepts only the hash's shape as an id (ids name directories)", () => {
    expect(isCheckpointId("36fd6dc4e4c0d7cc")).toBe(true);
    expect(isCheckpointId("../etc")).toBe(false);
    expect(isCheckpointId("36FD6DC4E4C0D7CC")).toBe(false);
  });
});
