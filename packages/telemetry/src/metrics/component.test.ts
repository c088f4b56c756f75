import { describe, expect, it } from "vitest";
import { createKvTransferMetrics, KV_TRANSFER_BYTES_BUCKETS } from "./component.js";
import { createMetricsRegistry, hierarchyLabels, metricsText } from "./registry.js";

describe("KV transfer metrics", () => {
  it("expose bytes and seconds histograms, fallbacks and held blocks under dynamo_component_kv_transfer_*", async () => {
    const registry = createMetricsRegistry(
      hierarchyLabels({ namespace: "dynamo", component: "decode", workerId: "0000000000000001" }),
    );
    const m = createKvTransferMetrics(registry);
    m.bytes.observe({ transport: "shm" }, 3 * 65_536);
    m.seconds.observe({ transport: "shm" }, 0.002);
    m.blocksTotal.inc({ transport: "shm" }, 3);
    m.fallbacksTotal.inc({ reason: "checksum" });
    m.heldBlocks.set(7);
    m.releasesTotal.inc({ reason: "lease_expired" });
    const text = await metricsText(registry);
    const h = `dynamo_namespace="dynamo",dynamo_component="decode",worker_id="0000000000000001"`;
    expect(text).toContain(`dynamo_component_kv_transfer_bytes_bucket{le="131072",${h},transport="shm"} 0`);
    expect(text).toContain(`dynamo_component_kv_transfer_bytes_bucket{le="262144",${h},transport="shm"} 1`);
    expect(text).toContain(`dynamo_component_kv_transfer_bytes_sum{${h},transport="shm"} 196608`);
    expect(text).toContain(`dynamo_component_kv_transfer_seconds_bucket{le="0.0025",${h},transport="shm"} 1`);
    expect(text).toContain(`dynamo_component_kv_transfer_blocks_total{transport="shm",${h}} 3`);
    expect(text).toContain(`dynamo_component_kv_transfer_fallbacks_total{reason="checksum",${h}} 1`);
    expect(text).toContain(`dynamo_component_kv_transfer_held_blocks{${h}} 7`);
    expect(text).toContain(`dynamo_component_kv_transfer_releases_total{reason="lease_expired",${h}} 1`);
    expect(KV_TRANSFER_BYTES_BUCKETS.at(-1)).toBe(16 * 2 ** 30);
  });
});
