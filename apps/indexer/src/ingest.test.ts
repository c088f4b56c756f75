import {
  computeLocalHashes,
  encodeKvEventBatch,
  type KvCacheEvent,
  RadixIndexer,
  storedFromTokens,
} from "@kvasir/kv";
import { describe, expect, it } from "vitest";
import { KvIngest } from "./ingest.js";

const BLOCK = 4;
const tokens = (start: number, blocks: number) => Array.from({ length: blocks * BLOCK }, (_, i) => start + i);

function setup(watermarks?: Map<bigint, bigint>) {
  const index = new RadixIndexer();
  const drops: Record<string, number> = {};
  const gaps: [bigint, bigint, bigint][] = [];
  const ingest = new KvIngest(
    index,
    {
      applied() {},
      dropped(reason, count) {
        drops[reason] = (drops[reason] ?? 0) + count;
      },
      gap(worker, from, to) {
        gaps.push([worker, from, to]);
      },
    },
    watermarks,
  );
  return { index, ingest, drops, gaps };
}

const stored = (workerId: bigint, eventId: bigint, start: number): KvCacheEvent => ({
  workerId,
  dpRank: 0,
  eventId,
  data: storedFromTokens(tokens(start, 1), BLOCK),
});

const depth = (index: RadixIndexer, start: number) =>
  index.findMatches(computeLocalHashes(tokens(start, 1), BLOCK)).map((m) => m.workerId);

describe("KvIngest", () => {
  it("applies event-plane batches and tracks each worker's last event_id", () => {
    const { index, ingest } = setup();
    ingest.applyPlaneBatch(
      encodeKvEventBatch([stored(1n, 0n, 100), stored(2n, 7n, 200), stored(1n, 1n, 300)]),
    );
    expect(depth(index, 300)).toEqual([1n]);
    expect(ingest.eventIdWatermarks).toEqual(
      new Map([
        [1n, 1n],
        [2n, 7n],
      ]),
    );
    expect(ingest.appliedEvents).toBe(3);
  });

  it("counts missing event_ids and skips repeated ones", () => {
    const { index, ingest, drops, gaps } = setup(new Map([[1n, 4n]]));
    ingest.applyPlaneBatch(encodeKvEventBatch([stored(1n, 3n, 100), stored(1n, 8n, 200)]));
    expect(depth(index, 100)).toEqual([]);
    expect(depth(index, 200)).toEqual([1n]);
    expect(drops).toEqual({ stale_event: 1, event_id_gap: 3 });
    expect(gaps).toEqual([[1n, 5n, 8n]]);
  });

  it("counts a batch that is not a KvEventBatch and goes on", () => {
    const { index, ingest, drops } = setup();
    ingest.applyPlaneBatch(Uint8Array.from([0xff, 0xff, 0xff]));
    ingest.applyPlaneBatch(encodeKvEventBatch([stored(1n, 0n, 100)]));
    expect(drops).toEqual({ malformed_batch: 1 });
    expect(depth(index, 100)).toEqual([1n]);
  });

  it("forgets a removed worker's blocks and watermark", () => {
    const { index, ingest } = setup();
    ingest.applyPlaneBatch(encodeKvEventBatch([stored(1n, 5n, 100)]));
    ingest.removeWorker(1n);
    expect(depth(index, 100)).toEqual([]);
    ingest.applyPlaneBatch(encodeKvEventBatch([stored(1n, 0n, 100)]));
    expect(depth(index, 100)).toEqual([1n]);
  });
});
