import { describe, expect, it } from "vitest";
import { logBuckets, logBucketsFromEnv } from "./buckets.js";
import { createComponentMetrics, createKvStatsMetrics } from "./component.js";
import { createFrontendMetrics } from "./frontend.js";
import { createMetricsRegistry, hierarchyLabels, mergedMetricsText, metricsText } from "./registry.js";
import { createIndexerServiceMetrics, createKvIndexMetrics, createRouterMetrics } from "./router.js";

describe("Dynamo histogram buckets", () => {
  it("match the le values Dynamo's frontend exposes", () => {
    // From a Dynamo frontend's /metrics: TTFT, ITL and ISL buckets.
    expect(logBuckets(0.001, 480, 18)).toEqual([
      0, 0.0022, 0.0047, 0.01, 0.022, 0.047, 0.1, 0.22, 0.47, 1, 2.2, 4.7, 10, 22, 48, 100, 220, 480,
    ]);
    expect(logBuckets(0.001, 2, 13)).toEqual([
      0, 0.0019, 0.0035, 0.0067, 0.013, 0.024, 0.045, 0.084, 0.16, 0.3, 0.56, 1.1, 2,
    ]);
    expect(logBuckets(50, 128000, 12)).toEqual([
      0, 100, 210, 430, 870, 1800, 3600, 7400, 15000, 31000, 63000, 130000,
    ]);
  });

  it("take DYN_METRICS_* overrides and ignore invalid ones", () => {
    const defaults = { min: 0.001, max: 480, count: 18 };
    expect(
      logBucketsFromEnv("DYN_METRICS_TTFT", defaults, {
        DYN_METRICS_TTFT_MAX: "10",
        DYN_METRICS_TTFT_COUNT: "3",
      }),
    ).toEqual([0, 0.1, 10]);
    expect(logBucketsFromEnv("DYN_METRICS_TTFT", defaults, { DYN_METRICS_TTFT_MIN: "-1" })).toEqual(
      logBuckets(0.001, 480, 18),
    );
  });
});

describe("frontend metrics", () => {
  it("expose Dynamo's names and labels in the text format", async () => {
    const registry = createMetricsRegistry();
    const m = createFrontendMetrics(registry, { env: {} });
    const model = "Qwen/Qwen3-0.6B";
    m.requestsTotal.inc({
      model,
      endpoint: "chat_completions",
      request_type: "stream",
      status: "success",
      error_type: "",
    });
    m.activeRequests.inc({ model });
    m.stageRequests.set({ stage: "dispatch", phase: "aggregated" }, 2);
    m.stageRequests.set({ stage: "preprocess", phase: "" }, 0);
    m.timeToFirstToken.observe({ model }, 0.3);
    m.interTokenLatency.observe({ model }, 0.004);
    m.inputSequenceTokens.observe({ model }, 33);
    m.cachedTokens.observe({ model }, 16);
    const text = await metricsText(registry);
    expect(text).toContain(
      `dynamo_frontend_requests_total{model="${model}",endpoint="chat_completions",request_type="stream",status="success",error_type=""} 1`,
    );
    expect(text).toContain(`dynamo_frontend_active_requests{model="${model}"} 1`);
    expect(text).toContain(`dynamo_frontend_stage_requests{stage="dispatch",phase="aggregated"} 2`);
    expect(text).toContain(`dynamo_frontend_stage_requests{stage="preprocess",phase=""} 0`);
    expect(text).toContain("# TYPE dynamo_frontend_time_to_first_token_seconds histogram");
    expect(text).toContain(
      `dynamo_frontend_time_to_first_token_seconds_bucket{le="0.22",model="${model}"} 0`,
    );
    expect(text).toContain(
      `dynamo_frontend_time_to_first_token_seconds_bucket{le="0.47",model="${model}"} 1`,
    );
    expect(text).toContain(
      `dynamo_frontend_inter_token_latency_seconds_bucket{le="0.0067",model="${model}"} 1`,
    );
    expect(text).toContain(`dynamo_frontend_input_sequence_tokens_bucket{le="100",model="${model}"} 1`);
    expect(text).toContain(`dynamo_frontend_cached_tokens_count{model="${model}"} 1`);
    for (const name of [
      "dynamo_frontend_request_duration_seconds",
      "dynamo_frontend_output_sequence_tokens",
      "dynamo_frontend_queued_requests",
      "dynamo_frontend_inflight_requests",
      "dynamo_frontend_model_total_kv_blocks",
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it("live in separate registries per service instance without colliding", async () => {
    const a = createMetricsRegistry({ frontend: "a" });
    const b = createMetricsRegistry({ frontend: "b" });
    createFrontendMetrics(a, { env: {} }).activeRequests.set({ model: "m" }, 3);
    createFrontendMetrics(b, { env: {} }).activeRequests.set({ model: "m" }, 4);
    expect(() => createFrontendMetrics(a, { env: {} })).toThrow(/already been registered/);
    const merged = await mergedMetricsText([a, b]);
    expect(merged).toContain(`dynamo_frontend_active_requests{model="m",frontend="a"} 3`);
    expect(merged).toContain(`dynamo_frontend_active_requests{model="m",frontend="b"} 4`);
    expect(merged.match(/# TYPE dynamo_frontend_active_requests gauge/g)).toHaveLength(1);
  });
});

describe("component, router and indexer metrics", () => {
  it("carry the hierarchy labels from the registry and their own labels", async () => {
    const registry = createMetricsRegistry(
      hierarchyLabels({ namespace: "dynamo", component: "backend", workerId: "00000000000000ff" }),
    );
    const c = createComponentMetrics(registry, Date.now() - 5000);
    const kv = createKvStatsMetrics(registry);
    c.requestsTotal.inc({ dynamo_endpoint: "generate" });
    c.requestDuration.observe({ dynamo_endpoint: "generate" }, 42);
    kv.totalBlocks.set(1024);
    const text = await metricsText(registry);
    const h = `dynamo_namespace="dynamo",dynamo_component="backend",worker_id="00000000000000ff"`;
    expect(text).toContain(`dynamo_component_requests_total{dynamo_endpoint="generate",${h}} 1`);
    expect(text).toContain(
      `dynamo_component_request_duration_seconds_bucket{le="30",${h},dynamo_endpoint="generate"} 0`,
    );
    expect(text).toContain(
      `dynamo_component_request_duration_seconds_bucket{le="60",${h},dynamo_endpoint="generate"} 1`,
    );
    expect(text).toContain(`dynamo_component_kvstats_total_blocks{${h}} 1024`);
    const uptime = Number(/dynamo_component_uptime_seconds\{[^}]*\} ([0-9.]+)/.exec(text)?.[1]);
    expect(uptime).toBeGreaterThanOrEqual(5);
  });

  it("bind router series to the router id", async () => {
    const registry = createMetricsRegistry();
    const r = createRouterMetrics(registry, "7");
    const idx = createKvIndexMetrics(registry);
    const svc = createIndexerServiceMetrics(registry);
    r.requestsTotal.inc();
    r.kvHitRate.observe(0.5);
    r.overheadTotalMs.observe(0.2);
    idx.kvCacheEventsApplied.inc({ event_type: "stored", status: "ok" }, 3);
    svc.workers.set(2);
    const text = await metricsText(registry);
    expect(text).toContain(`dynamo_component_router_requests_total{router_id="7"} 1`);
    expect(text).toContain(`dynamo_component_router_kv_hit_rate_bucket{le="0.45",router_id="7"} 0`);
    expect(text).toContain(`dynamo_component_router_kv_hit_rate_bucket{le="0.5",router_id="7"} 1`);
    expect(text).toContain(`dynamo_router_overhead_total_ms_bucket{le="0.27",router_id="7"} 1`);
    expect(text).toContain(`dynamo_component_kv_cache_events_applied{event_type="stored",status="ok"} 3`);
    expect(text).toContain("dynamo_kvindexer_workers 2");
  });
});
