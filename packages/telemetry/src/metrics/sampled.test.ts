import { describe, expect, it } from "vitest";
import { createMetricsRegistry, metricsText } from "./registry.js";
import { type MetricSample, registerSamples } from "./sampled.js";

describe("registerSamples", () => {
  it("serves values kept elsewhere, read at every scrape, with the registry's default labels", async () => {
    const registry = createMetricsRegistry({ dynamo_component: "frontend" });
    let reconnects = 0;
    let connected = 1;
    const samples = (): MetricSample[] => [
      { name: "x_reconnects_total", type: "counter", help: "Reconnects.", value: reconnects },
      { name: "x_connected", type: "gauge", help: "Connected.", value: connected },
    ];
    registerSamples(registry, samples);
    expect(await metricsText(registry)).toContain('x_reconnects_total{dynamo_component="frontend"} 0');
    reconnects = 2;
    connected = 0;
    const text = await metricsText(registry);
    expect(text).toContain("# TYPE x_reconnects_total counter");
    expect(text).toContain('x_reconnects_total{dynamo_component="frontend"} 2');
    expect(text).toContain('x_connected{dynamo_component="frontend"} 0');
  });
});
