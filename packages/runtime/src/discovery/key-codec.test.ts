import { describe, expect, it } from "vitest";
import { decodeKvKey, encodeKvKey } from "./key-codec.js";

describe("NATS KV key codec", () => {
  it("keeps safe characters and escapes the rest so keys are one valid KV token", () => {
    expect(encodeKvKey("v1/instances/dynamo/backend/generate/00ff")).toBe(
      "v1/instances/dynamo/backend/generate/00ff",
    );
    expect(encodeKvKey("v1/mdc/ns/Qwen/Qwen3-0.6B/01")).toBe("v1/mdc/ns/Qwen/Qwen3-0=2E6B/01");
    for (const key of ["a.b", "m:7b", "x=y", "ünï code ✓", "sp ace", "v1/mdc/ns/org/model@rev/id"]) {
      const encoded = encodeKvKey(key);
      expect(encoded).toMatch(/^[-/_=A-Za-z0-9]+$/);
      expect(decodeKvKey(encoded)).toBe(key);
    }
    expect(() => encodeKvKey("")).toThrow();
  });
});
