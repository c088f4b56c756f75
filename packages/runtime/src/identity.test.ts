import { describe, expect, it } from "vitest";
import {
  formatInstanceId,
  instanceKey,
  mdcKey,
  newInstanceId,
  parseInstanceId,
  parseInstanceKey,
} from "./identity.js";

describe("identity", () => {
  it("formats ids as 16 zero-padded hex chars and parses them back", () => {
    expect(formatInstanceId(0xabcn)).toBe("0000000000000abc");
    expect(formatInstanceId((1n << 64n) - 1n)).toBe("ffffffffffffffff");
    expect(parseInstanceId("0000000000000abc")).toBe(0xabcn);
    expect(parseInstanceId("FFFFFFFFFFFFFFFF")).toBe((1n << 64n) - 1n);
    for (let i = 0; i < 50; i++) {
      const id = newInstanceId();
      expect(parseInstanceId(formatInstanceId(id))).toBe(id);
    }
  });

  it("rejects ids outside u64 and text that is not 1-16 hex digits", () => {
    expect(() => formatInstanceId(1n << 64n)).toThrow(RangeError);
    expect(() => formatInstanceId(-1n)).toThrow(RangeError);
    for (const bad of ["", "xyz", "0x12", "12345678901234567", " 12"])
      expect(() => parseInstanceId(bad)).toThrow();
  });

  it("draws random non-zero ids", () => {
    const ids = new Set(Array.from({ length: 100 }, () => newInstanceId()));
    expect(ids.size).toBe(100);
    expect(ids.has(0n)).toBe(false);
  });

  it("builds discovery keys as in DESIGN §2", () => {
    const identity = { namespace: "dynamo", component: "backend", endpoint: "generate", instanceId: 0x1fn };
    expect(instanceKey(identity)).toBe("v1/instances/dynamo/backend/generate/000000000000001f");
    expect(mdcKey("dynamo", "Qwen/Qwen3-0.6B", 0x1fn)).toBe("v1/mdc/dynamo/Qwen/Qwen3-0.6B/000000000000001f");
  });
});

describe("parseInstanceKey", () => {
  it("inverts instanceKey", () => {
    const identity = { namespace: "ns", component: "backend", endpoint: "generate", instanceId: 255n };
    expect(parseInstanceKey(instanceKey(identity))).toEqual(identity);
  });

  it("ignores keys of another shape", () => {
    expect(parseInstanceKey("v1/mdc/ns/model/00000000000000ff")).toBeUndefined();
    expect(parseInstanceKey("v1/instances/ns/backend/generate")).toBeUndefined();
    expect(parseInstanceKey("v1/instances/ns/backend/generate/not-hex")).toBeUndefined();
  });
});
