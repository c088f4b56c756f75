import { describe, expect, it } from "vitest";
import { safetensorsHeader, tensorsFor } from "./safetensors.js";

describe("safetensors headers", () => {
  it("are length-prefixed, 8-byte aligned JSON with contiguous data offsets", () => {
    const tensors = tensorsFor(3 * 2 ** 20 + 100, 0, 1024, 2 ** 20);
    const { header, dataBytes } = safetensorsHeader(tensors);
    const length = Number(header.readBigUInt64LE(0));
    expect(length).toBe(header.length - 8);
    expect(length % 8).toBe(0);
    const parsed = JSON.parse(header.subarray(8).toString("utf8")) as Record<
      string,
      { data_offsets?: number[]; shape?: number[] }
    >;
    expect(parsed.__metadata__).toEqual({ format: "pt" });
    let expected = 0;
    for (const t of tensors) {
      const entry = parsed[t.name];
      expect(entry?.data_offsets?.[0]).toBe(expected);
      expected += (entry?.shape?.[0] ?? 0) * (entry?.shape?.[1] ?? 0) * 2;
      expect(entry?.data_offsets?.[1]).toBe(expected);
    }
    expect(dataBytes).toBe(expected);
    // Whole rows of 1024 BF16 values, in 1 MiB tensors.
    expect(tensors.map((t) => t.shape)).toEqual([
      [512, 1024],
      [512, 1024],
      [512, 1024],
    ]);
  });
});
