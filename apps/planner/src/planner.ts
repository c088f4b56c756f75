// The planner service on the component host: every adjustment interval it reads the pools (worker pools) and the
// frontends' traffic (Prometheus or a direct scrape), runs the core's step, applies the decisions through the
// connector, and reports: a log line per pool decision with its reason, a span per adjustment, /metrics.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { parsePerfProfile } from "@kvasir/protocol";
import { type HostDeps, type RuntimeConfig, startComponent } from "@kvasir/runtime";
import { openWorkerPools } from "@kvasir/serving";
import {
  createLogger,
  flushTracing,
  initTracing,
  metricsText,
  setLogLevel,
  withSpan,
} from "@kvasir/telemetry";
import type { Connector, Environment } from "./connectors/connector.js";
import { KubernetesConnector, type Workload } from "./connectors/kubernetes.js";
import { LocalConnector, type LocalPoolCommand } from "./connectors/local.js";
import { VirtualConnector } from "./connectors/virtual.js";
import { type PoolName, poolsOf } from "./decide.js";
import { PlannerMetrics } from "./metrics.js";
import { PerfModel } from "./perf-model.js";
import { type Adjustment, type Observation, PlannerCore, type PlannerCoreConfig } from "./planner-core.js";
import { observePools } from "./pools.js";
import { PrometheusTrafficSource } from "./prometheus-source.js";
import { ScrapeTrafficSource } from "./scrape-source.js";
import type { TrafficSource } from "./traffic.js";

export interface PlannerConfig {
  runtime: RuntimeConfig;
  /** `--system-port`: /health, /live, /metrics; none when undefined. */
  systemPort?: number;
  statusHost?: string;
  advertiseHost?: string;
  core: PlannerCoreConfig;
  environment: Environment;
  noOperation: boolean;
  prometheusEndpoint?: string;
  model?: string;
  local?: { pools: Partial<Record<PoolName, LocalPoolCommand>>; output?: "inherit" | "ignore" };
  kubernetes?: {
    namespace: string;
    workloads: Partial<Record<PoolName, Workload>>;
    /** Default: KUBECONFIG, ~/.kube/config or the pod's service account. */
    kubeConfig?: KubeConfig;
  };
}

export interface PlannerService {
  readonly statusUrl: string | undefined;
  readonly connector: Connector;
  /** The most recent adjustments, oldest first (at most 100). */
  readonly adjustments: readonly Adjustment[];
  /** Runs one adjustment now (the interval timer keeps its own pace). */
  adjust(): Promise<Adjustment>;
  stop(): Promise<void>;
}

/** A perf profile path: a JSON file, or a directory holding perf_profile.json. */
export function loadPerfModel(path: string): PerfModel {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, "perf_profile.json") : path;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new RangeError(`perf profile ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return new PerfModel(parsePerfProfile(json));
}

function connectorOf(config: PlannerConfig, log: ReturnType<typeof createLogger>): Connector {
  if (config.environment === "local") {
    return new LocalConnector({
      pools: config.local?.pools ?? {},
      ...(config.local?.output ? { output: config.local.output } : {}),
      log,
    });
  }
  if (config.environment === "kubernetes") {
    return new KubernetesConnector({
      namespace: config.kubernetes?.namespace ?? "default",
      workloads: config.kubernetes?.workloads ?? {},
      ...(config.kubernetes?.kubeConfig ? { kubeConfig: config.kubernetes.kubeConfig } : {}),
      log,
    });
  }
  return new VirtualConnector();
}

export async function start(config: PlannerConfig, deps?: HostDeps): Promise<PlannerService> {
  setLogLevel(config.runtime.logLevel);
  initTracing({ serviceName: "kvasir-planner" });
  const log = createLogger("planner");
  const core = new PlannerCore(config.core);
  const metrics = new PlannerMetrics(config.runtime.namespace);
  const intervalMs = config.core.intervalS * 1000;
  const pools = poolsOf(config.core.topology);
  const gpusPerEngine = (pool: PoolName) => config.core.limits[pool].gpusPerEngine;
  return startComponent(
    {
      component: "planner",
      runtime: config.runtime,
      log,
      flush: flushTracing,
      ...(config.advertiseHost ? { advertiseHost: config.advertiseHost } : {}),
      ...(deps ? { deps } : {}),
    },
    async (host) => {
      const connector = connectorOf(config, log);
      host.onStop("connector", () => connector.close());
      const workerPools = await openWorkerPools(host.discovery, {
        namespace: host.namespace,
        events: host.events,
      });
      host.onStop("worker pools", () => workerPools.close());
      const traffic: TrafficSource = config.prometheusEndpoint
        ? new PrometheusTrafficSource({
            endpoint: config.prometheusEndpoint,
            namespace: host.namespace,
            ...(config.model ? { model: config.model } : {}),
            log,
          })
        : new ScrapeTrafficSource({
            discovery: host.discovery,
            namespace: host.namespace,
            ...(config.model ? { model: config.model } : {}),
            log,
          });
      const adjustments: Adjustment[] = [];

      const adjustOnce = () =>
        withSpan(
          "planner.adjust",
          { "planner.mode": config.core.mode, "planner.environment": config.environment },
          async (span) => {
            const observation: Observation = {
              nowMs: Date.now(),
              pools: observePools(workerPools, config.model),
            };
            const t = await traffic.read(config.core.intervalS);
            if (t) observation.traffic = t;
            const adj = core.step(observation);
            for (const d of adj.decisions) {
              span.setAttribute(`planner.${d.pool}.current`, d.current);
              span.setAttribute(`planner.${d.pool}.desired`, d.desired);
              log.info("planner decision", {
                pool: d.pool,
                mode: config.core.mode,
                current: d.current,
                desired: d.desired,
                reason: d.reason,
                ...(adj.predicted
                  ? {
                      predicted_rps: Number(adj.predicted.requestsPerSecond.toFixed(3)),
                      predicted_isl: Math.round(adj.predicted.isl),
                      predicted_osl: Math.round(adj.predicted.osl),
                    }
                  : {}),
                ...(t && t.requests > 0 ? { observed_ttft_ms: t.ttftMs, observed_itl_ms: t.itlMs } : {}),
                no_operation: config.noOperation,
              });
              if (!config.noOperation) {
                try {
                  await connector.scale(d.pool, d.desired, d.current);
                } catch (error) {
                  log.error("scaling failed", { pool: d.pool, desired: d.desired, error: String(error) });
                  span.setAttribute(`planner.${d.pool}.error`, String(error));
                }
              }
            }
            metrics.record(observation, adj, config.core.intervalS, gpusPerEngine);
            adjustments.push(adj);
            if (adjustments.length > 100) adjustments.shift();
            return adj;
          },
        );

      // One adjustment at a time: a slow Prometheus or API server delays the next instead of piling them up.
      let running: Promise<Adjustment> | undefined;
      const adjust = () => {
        running ??= adjustOnce().finally(() => {
          running = undefined;
        });
        return running;
      };
      let timer: NodeJS.Timeout | undefined;
      const schedule = () => {
        timer = setTimeout(() => {
          void adjust()
            .catch((error: unknown) => log.error("adjustment failed", { error: String(error) }))
            .finally(() => {
              if (!host.draining) schedule();
            });
        }, intervalMs);
      };
      schedule();
      host.onStop("adjustment timer", async () => {
        clearTimeout(timer);
        await running?.catch(() => {});
      });

      const status = await host.serveStatus({
        host: config.statusHost ?? "0.0.0.0",
        port: config.systemPort,
        health: () => ({ mode: config.core.mode, environment: config.environment }),
        metrics: () => metricsText(metrics.registry),
      });
      await host.registerInstance("status", {
        address: status?.url ?? "",
        transport: "http",
        metadata: { metrics_path: "/metrics", mode: config.core.mode, environment: config.environment },
      });
      log.info("planner ready", {
        mode: config.core.mode,
        topology: config.core.topology,
        pools,
        environment: config.environment,
        adjustment_interval_s: config.core.intervalS,
        traffic: config.prometheusEndpoint ? "prometheus" : "scrape",
        namespace: host.namespace,
        ...(status ? { status_url: status.localUrl } : {}),
      });
      return {
        statusUrl: status?.localUrl,
        connector,
        adjustments,
        adjust,
        stop: () => host.stop(),
      };
    },
  );
}
