// The shared Mooncake trace, read from disk, must give the figures its README states.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { prefixHitBounds, synthesizePrompt, TRACE_BLOCK_TOKENS, traceBlockStats } from "../src/index.js";
import { loadTrace } from "../src/trace.js";

/** The repository root: the nearest folder above this file holding pnpm-workspace.yaml. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "pnpm-workspace.yaml"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no pnpm-workspace.yaml above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

// The shared traces sit beside the repository: <repo>/../shared/traces. CI provides them; a checkout without
// them fails here with the path it looked at rather than with a bare ENOENT.
const TRACE = resolve(repoRoot(), "../shared/traces/mooncake_synthetic_trace.jsonl");
if (!existsSync(TRACE)) {
  throw new Error(
    `the shared Mooncake trace is missing: expected ${TRACE} (<repo>/../shared/traces/mooncake_synthetic_trace.jsonl)`,
  );
}

describe("mooncake_synthetic_trace.jsonl", () => {
  const rows = loadTrace(TRACE);

  it("has the README's rows, blocks, distinct blocks and 64.0% reuse ceiling", () => {
    const stats = traceBlockStats(rows);
    expect(stats.rows).toBe(3993);
    expect(stats.blocks).toBe(121_877);
    expect(stats.distinctBlocks).toBe(43_924);
    expect(stats.reuseCeiling.toFixed(3)).toBe("0.640");
  });

  it("has sorted timestamps, a burst at 0 and ceil(input_length / 512) hash_ids per row", () => {
    expect(rows.filter((r) => r.timestamp === 0).length).toBeGreaterThan(1);
    rows.forEach((row, i) => {
      if (i > 0)
        expect(row.timestamp).toBeGreaterThanOrEqual((rows[i - 1] as (typeof rows)[number]).timestamp);
      expect(row.hashIds.length).toBe(Math.ceil(row.inputLength / TRACE_BLOCK_TOKENS));
    });
  });

  it("synthesizes prompts of input_length whose shared ids give shared tokens", () => {
    const firstUse = new Map<number, number[]>();
    for (const row of rows.slice(0, 400)) {
      const prompt = synthesizePrompt(row);
      expect(prompt.length).toBe(row.inputLength);
      row.hashIds.forEach((id, b) => {
        const block = prompt.slice(b * TRACE_BLOCK_TOKENS, (b + 1) * TRACE_BLOCK_TOKENS);
        const seen = firstUse.get(id);
        if (!seen) firstUse.set(id, block);
        else expect(block).toEqual(seen.slice(0, block.length));
      });
    }
  });

  it("puts the token-level ceiling near the block-level one, and a finite pool below it", () => {
    const bounds = prefixHitBounds(rows, { engineBlockSize: 16, cacheBlocks: 8 * 16384 });
    expect(bounds.infiniteCacheHitRate).toBeGreaterThan(0.6);
    expect(bounds.infiniteCacheHitRate).toBeLessThan(0.7);
    expect(bounds.pooledCacheHitRate).toBeLessThan(bounds.infiniteCacheHitRate);
    expect(bounds.distinctBlocks).toBeGreaterThan(40_000 * 32);
  });
});
