#!/usr/bin/env node
// Writes the Grafana dashboards in deploy/observability/grafana/dashboards/ from the panel lists below, so that
// every panel's PromQL sits in one place (the deploy tests run each expression against a real Prometheus).
// Metric names are the ones the apps export (packages/telemetry/src/metrics, apps/planner/src/metrics.ts).
// Usage: node scripts/dashboards.mjs [--check]   (--check fails when the committed JSON differs)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, "deploy/observability/grafana/dashboards");
const R = "$__rate_interval";
// Grafana's datasource variable, resolved by Grafana (not a JavaScript template).
const DATASOURCE = { type: "prometheus", uid: ["$", "{datasource}"].join("") };

/** Dashboards: uid, title, panels of [title, unit, [expr, legend]...]. */
export const DASHBOARDS = [
  {
    uid: "kvasir-frontend",
    title: "Kvasir / Frontend",
    panels: [
      [
        "Requests per second by status",
        "reqps",
        [`sum by (status) (rate(dynamo_frontend_requests_total[${R}]))`, "{{status}}"],
      ],
      [
        "Error ratio",
        "percentunit",
        [
          // No error series at all reads as 0, not as no data.
          `(sum(rate(dynamo_frontend_requests_total{status="error"}[${R}])) or vector(0)) / clamp_min(sum(rate(dynamo_frontend_requests_total[${R}])), 1e-9)`,
          "errors",
        ],
      ],
      [
        "Time to first token",
        "s",
        [
          `histogram_quantile(0.5, sum by (le) (rate(dynamo_frontend_time_to_first_token_seconds_bucket[${R}])))`,
          "p50",
        ],
        [
          `histogram_quantile(0.95, sum by (le) (rate(dynamo_frontend_time_to_first_token_seconds_bucket[${R}])))`,
          "p95",
        ],
      ],
      [
        "Inter-token latency",
        "s",
        [
          `histogram_quantile(0.5, sum by (le) (rate(dynamo_frontend_inter_token_latency_seconds_bucket[${R}])))`,
          "p50",
        ],
        [
          `histogram_quantile(0.95, sum by (le) (rate(dynamo_frontend_inter_token_latency_seconds_bucket[${R}])))`,
          "p95",
        ],
      ],
      [
        "Request duration p95",
        "s",
        [
          `histogram_quantile(0.95, sum by (le, model) (rate(dynamo_frontend_request_duration_seconds_bucket[${R}])))`,
          "{{model}}",
        ],
      ],
      [
        "Output tokens per second",
        "short",
        [`sum by (model) (rate(dynamo_frontend_output_tokens_total[${R}]))`, "{{model}}"],
      ],
      [
        "In flight and queued",
        "short",
        ["sum by (model) (dynamo_frontend_inflight_requests)", "in flight {{model}}"],
        ["sum by (model) (dynamo_frontend_queued_requests)", "queued {{model}}"],
      ],
      ["Workers per model", "short", ["sum by (model) (dynamo_frontend_model_workers)", "{{model}}"]],
    ],
  },
  {
    uid: "kvasir-router",
    title: "Kvasir / Router",
    panels: [
      [
        "Routing decisions per second",
        "reqps",
        [`sum by (router_id) (rate(dynamo_component_router_requests_total[${R}]))`, "{{router_id}}"],
      ],
      [
        "KV cache hit rate (prompt blocks found cached on the chosen worker)",
        "percentunit",
        [
          `sum(rate(dynamo_component_router_kv_hit_rate_sum[${R}])) / clamp_min(sum(rate(dynamo_component_router_kv_hit_rate_count[${R}])), 1e-9)`,
          "hit rate",
        ],
      ],
      [
        "Routing overhead p95",
        "ms",
        [
          `histogram_quantile(0.95, sum by (le) (rate(dynamo_router_overhead_total_ms_bucket[${R}])))`,
          "total",
        ],
        [
          `histogram_quantile(0.95, sum by (le) (rate(dynamo_router_overhead_indexer_find_matches_ms_bucket[${R}])))`,
          "index lookup",
        ],
      ],
      [
        "KV events applied per second",
        "short",
        [`sum by (status) (rate(dynamo_component_kv_cache_events_applied[${R}]))`, "{{status}}"],
      ],
    ],
  },
  {
    uid: "kvasir-workers",
    title: "Kvasir / Workers",
    panels: [
      [
        "KV cache usage",
        "percentunit",
        ["max by (worker_id) (dynamo_component_kvstats_gpu_cache_usage_percent)", "{{worker_id}}"],
      ],
      [
        "KV blocks in use",
        "short",
        ["sum by (worker_id) (dynamo_component_kvstats_active_blocks)", "active {{worker_id}}"],
        ["sum by (worker_id) (dynamo_component_kvstats_total_blocks)", "total {{worker_id}}"],
      ],
      [
        "Requests in flight (queue)",
        "short",
        ["sum by (worker_id) (dynamo_component_inflight_requests)", "{{worker_id}}"],
      ],
      [
        "Requests per second",
        "reqps",
        [`sum by (dynamo_component) (rate(dynamo_component_requests_total[${R}]))`, "{{dynamo_component}}"],
      ],
      [
        "Prefix cache hit rate",
        "percentunit",
        ["avg by (worker_id) (dynamo_component_kvstats_gpu_prefix_cache_hit_rate)", "{{worker_id}}"],
      ],
    ],
  },
  {
    uid: "kvasir-planner",
    title: "Kvasir / Planner",
    panels: [
      [
        "Replicas by pool",
        "short",
        ["sum by (pool) (dynamo_planner_replicas)", "current {{pool}}"],
        ["sum by (pool) (dynamo_planner_desired_replicas)", "desired {{pool}}"],
      ],
      ["Observed requests per second", "reqps", ["dynamo_planner_observed_requests_per_second", "observed"]],
      [
        "Predicted requests per second",
        "reqps",
        ["dynamo_planner_predicted_requests_per_second", "predicted"],
      ],
      [
        "Expected TTFT and ITL",
        "ms",
        ["dynamo_planner_expected_ttft_ms", "ttft"],
        ["dynamo_planner_expected_itl_ms", "itl"],
      ],
      ["Adjustments", "short", ["sum(dynamo_planner_adjustments_total)", "adjustments"]],
    ],
  },
];

function dashboard({ uid, title, panels }) {
  return {
    uid,
    title,
    tags: ["kvasir"],
    timezone: "browser",
    schemaVersion: 39,
    version: 1,
    refresh: "10s",
    time: { from: "now-1h", to: "now" },
    templating: {
      list: [{ name: "datasource", type: "datasource", query: "prometheus", label: "Prometheus" }],
    },
    panels: panels.map(([panelTitle, unit, ...targets], i) => ({
      id: i + 1,
      type: "timeseries",
      title: panelTitle,
      datasource: DATASOURCE,
      gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
      fieldConfig: { defaults: { unit }, overrides: [] },
      options: { legend: { displayMode: "list", placement: "bottom" }, tooltip: { mode: "multi" } },
      targets: targets.map(([expr, legendFormat], j) => ({
        refId: String.fromCharCode(65 + j),
        datasource: DATASOURCE,
        expr,
        legendFormat,
      })),
    })),
  };
}

const check = process.argv.includes("--check");
let stale = 0;
for (const spec of DASHBOARDS) {
  const path = join(out, `${spec.uid}.json`);
  const text = `${JSON.stringify(dashboard(spec), null, 2)}\n`;
  if (check) {
    // Compared as JSON: biome formats the committed files its own way.
    let current;
    try {
      current = JSON.stringify(JSON.parse(readFileSync(path, "utf8")));
    } catch {}
    if (current !== JSON.stringify(JSON.parse(text))) {
      process.stderr.write(`${path} is stale: run node scripts/dashboards.mjs\n`);
      stale++;
    }
  } else writeFileSync(path, text);
}
if (stale > 0) process.exit(1);
