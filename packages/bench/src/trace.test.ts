import { describe, expect, it } from "vitest";
import { parseTrace, traceBlockStats } from "./trace.js";

describe("parseTrace", () => {
  it("reads Mooncake rows and skips blank lines", () => {
    const rows = parseTrace(
      '{"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [0, 1]}\n\n' +
        '{"timestamp": 12, "input_length": 100, "output_length": 3, "hash_ids": [0]}\n',
    );
    expect(rows).toEqual([
      { timestamp: 0, inputLength: 600, outputLength: 5, hashIds: [0, 1] },
      { timestamp: 12, inputLength: 100, outputLength: 3, hashIds: [0] },
    ]);
  });

  it("names the line of a malformed row", () => {
    expect(() =>
      parseTrace(
        '{"timestamp": 0, "input_length": 1, "output_length": 1, "hash_ids": [0]}\n{"timestamp": -1, "input_length": 1, "output_length": 1, "hash_ids": [0]}',
      ),
    ).toThrow(/line 2: 'timestamp'/);
    expect(() => parseTrace('{"timestamp": 0, "input_length": 1, "output_length": 1}')).toThrow(/hash_ids/);
  });
});

describe("traceBlockStats", () => {
  it("counts blocks, distinct ids and the share already seen", () => {
    const rows = parseTrace(
      [
        '{"timestamp": 0, "input_length": 1024, "output_length": 1, "hash_ids": [0, 1]}',
        '{"timestamp": 1, "input_length": 1536, "output_length": 1, "hash_ids": [0, 1, 2]}',
        '{"timestamp": 2, "input_length": 512, "output_length": 1, "hash_ids": [3]}',
      ].join("\n"),
    );
    expect(traceBlockStats(rows)).toEqual({ rows: 3, blocks: 6, distinctBlocks: 4, reuseCeiling: 2 / 6 });
  });
});
