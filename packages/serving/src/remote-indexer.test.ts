import { createDiscovery } from "@kvasir/runtime";
import { createMetricsRegistry, metricsText } from "@kvasir/telemetry";
import { describe, expect, it } from "vitest";
import { followRemoteIndexer } from "./remote-indexer.js";

describe("followRemoteIndexer", () => {
  it("answers from the fallback while no indexer answers, logging the switch once and counting lookups", async () => {
    const discovery = await createDiscovery({ backend: "memory" });
    const registry = createMetricsRegistry();
    const warnings: string[] = [];
    const log = { info: () => {}, warn: (message: string) => void warnings.push(message) };
    const remote = await followRemoteIndexer(discovery, "ns", {}, { log, registry });
    const hashes = new BigUint64Array([1n, 2n]);
    await expect(remote.findMatches(hashes)).rejects.toThrow(/no KV indexer is registered/);
    expect(remote.degraded).toBe(false);
    for (let i = 0; i < 3; i++) expect(await remote.findMatchesOr(hashes, () => "fallback")).toBe("fallback");
    expect(remote.degraded).toBe(true);
    expect(warnings).toEqual(["no kv indexer answers; routing with the router's approximate index"]);
    const text = await metricsText(registry);
    expect(text).toContain("dynamo_component_router_indexer_fallback 1");
    expect(text).toContain("dynamo_component_router_indexer_fallback_lookups_total 3");
    remote.stop();
    await discovery.close();
  });
});
