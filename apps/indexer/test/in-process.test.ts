// The indexer started in-process over planes its caller owns, as `kvasir serve` and tests compose apps.
import { encodeKvEventBatch, storedFromTokens } from "@kvasir/kv";
import { create, FindMatchesRequestSchema, IndexerService } from "@kvasir/protocol";
import {
  createClient,
  createDiscovery,
  createEventPlane,
  DEFAULT_NAMESPACE,
  kvEventsSubject,
  type RuntimeConfig,
} from "@kvasir/runtime";
import { waitFor } from "@kvasir/testing";
import { describe, expect, it } from "vitest";
import { type IndexerConfig, start } from "../src/indexer.js";

const BLOCK = 4;

describe("indexer in-process", () => {
  it("uses the planes it is given, registers on them, and leaves them open on stop", async () => {
    const [discovery, events] = await Promise.all([
      createDiscovery({ backend: "memory" }),
      createEventPlane({ backend: "memory" }),
    ]);
    const runtime: RuntimeConfig = {
      namespace: DEFAULT_NAMESPACE,
      discovery: { backend: "memory" },
      eventPlane: { backend: "memory" },
      logLevel: "error",
    };
    const config: IndexerConfig = {
      runtime,
      host: "127.0.0.1",
      port: 0,
      blockSize: BLOCK,
      backend: "ts",
      kvEventComponents: ["backend"],
      zmq: { publishers: [], fromDiscovery: false, topic: "", replayTimeoutMs: 100 },
    };
    const indexer = await start(config, { planes: { discovery, events }, instanceId: 0x42n });
    try {
      expect(indexer.instanceId).toBe(0x42n);
      expect(indexer.metricsUrl).toBeUndefined();
      const entries = await discovery.list(`v1/instances/${DEFAULT_NAMESPACE}/indexer/find_matches/`);
      expect(entries.map((e) => e.key)).toEqual([
        `v1/instances/${DEFAULT_NAMESPACE}/indexer/find_matches/0000000000000042`,
      ]);

      const prompt = Array.from({ length: 2 * BLOCK }, (_, i) => 9000 + i);
      events.publish(
        kvEventsSubject(DEFAULT_NAMESPACE, "backend"),
        encodeKvEventBatch([{ workerId: 7n, dpRank: 0, eventId: 1n, data: storedFromTokens(prompt, BLOCK) }]),
      );
      const client = createClient(IndexerService, indexer.url);
      await waitFor(async () => {
        const response = await client.findMatches(create(FindMatchesRequestSchema, { tokenIds: prompt }));
        return response.overlaps[0]?.matchedBlocks === 2;
      });
    } finally {
      await indexer.stop();
    }
    expect(await discovery.list(`v1/instances/${DEFAULT_NAMESPACE}/indexer/`)).toEqual([]);
    // Still the caller's: usable after the indexer stopped.
    expect(() => events.subscribe("x.y", () => {})).not.toThrow();
    await Promise.all([discovery.close(), events.close()]);
  });
});
