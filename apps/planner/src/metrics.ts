// The planner's own metrics, with Dynamo's planner names (dynamo_planner_*, components/src/dynamo/planner/
// monitoring/planner_metrics.py) where Dynamo has one, and per-pool labelled families of Kvasir's for what
// Dynamo's prefill/decode pair cannot say (the aggregated pool, requested vs routable replicas).
import { createMetricsRegistry, hierarchyLabels, type MetricsRegistry } from "@kvasir/telemetry";
import { Counter, Gauge } from "prom-client";
import type { PoolName } from "./decide.js";
import type { Adjustment, Observation } from "./planner-core.js";

const P = "dynamo_planner_";

export class PlannerMetrics {
  readonly registry: MetricsRegistry;
  private readonly g: Record<string, Gauge>;
  private readonly replicas: Gauge<"pool">;
  private readonly desired: Gauge<"pool">;
  private readonly scalings: Counter<"pool" | "direction">;
  private readonly correction: Gauge<"phase">;
  private readonly adjustments: Counter<never>;
  private gpuSeconds = 0;
  private lastAt: number | undefined;

  constructor(namespace: string) {
    this.registry = createMetricsRegistry(hierarchyLabels({ namespace, component: "planner" }));
    const registers = [this.registry];
    const gauge = (name: string, help: string) => new Gauge({ name: P + name, help, registers });
    this.g = {
      numPrefill: gauge("num_prefill_replicas", "Current number of prefill replicas"),
      numDecode: gauge(
        "num_decode_replicas",
        "Current number of decode replicas (aggregated workers in agg mode)",
      ),
      predictedNumPrefill: gauge("predicted_num_prefill_replicas", "Decided number of prefill replicas"),
      predictedNumDecode: gauge(
        "predicted_num_decode_replicas",
        "Decided number of decode replicas (aggregated in agg mode)",
      ),
      observedTtft: gauge("observed_ttft_ms", "Observed time to first token (ms)"),
      observedItl: gauge("observed_itl_ms", "Observed inter-token latency (ms)"),
      observedRps: gauge("observed_requests_per_second", "Observed request rate (req/s)"),
      observedDuration: gauge(
        "observed_request_duration_seconds",
        "Observed average request duration (seconds)",
      ),
      observedIsl: gauge("observed_input_sequence_tokens", "Observed average input sequence length (tokens)"),
      observedOsl: gauge(
        "observed_output_sequence_tokens",
        "Observed average output sequence length (tokens)",
      ),
      predictedRps: gauge(
        "predicted_requests_per_second",
        "Predicted request rate for next interval (req/s)",
      ),
      predictedIsl: gauge(
        "predicted_input_sequence_tokens",
        "Predicted input sequence length for next interval (tokens)",
      ),
      predictedOsl: gauge(
        "predicted_output_sequence_tokens",
        "Predicted output sequence length for next interval (tokens)",
      ),
      estimatedTtft: gauge(
        "estimated_ttft_ms",
        "TTFT the performance model predicts at the decided sizes (ms)",
      ),
      estimatedItl: gauge("estimated_itl_ms", "ITL the performance model predicts at the decided sizes (ms)"),
      expectedTtft: gauge(
        "expected_ttft_ms",
        "TTFT the performance model predicted for the last interval's traffic (ms)",
      ),
      expectedItl: gauge(
        "expected_itl_ms",
        "ITL the performance model predicted for the last interval's traffic (ms)",
      ),
      gpuHours: gauge("gpu_hours", "Cumulative GPU hours consumed"),
    };
    this.replicas = new Gauge({
      name: `${P}replicas`,
      help: "Routable workers per pool",
      labelNames: ["pool"],
      registers,
    });
    this.desired = new Gauge({
      name: `${P}desired_replicas`,
      help: "Decided workers per pool",
      labelNames: ["pool"],
      registers,
    });
    this.scalings = new Counter({
      name: `${P}scaling_actions_total`,
      help: "Decisions that changed a pool's size",
      labelNames: ["pool", "direction"],
      registers,
    });
    this.correction = new Gauge({
      name: `${P}correction_factor`,
      help: "Observed/predicted latency ratio applied to the performance model",
      labelNames: ["phase"],
      registers,
    });
    this.adjustments = new Counter({ name: `${P}adjustments_total`, help: "Adjustments run", registers });
  }

  private set(key: string, value: number | undefined): void {
    if (value !== undefined && Number.isFinite(value)) this.g[key]?.set(value);
  }

  record(
    obs: Observation,
    adj: Adjustment,
    intervalS: number,
    gpusPerEngine: (pool: PoolName) => number,
  ): void {
    this.adjustments.inc();
    const decode = obs.pools.decode.replicas + obs.pools.backend.replicas;
    this.set("numPrefill", obs.pools.prefill.replicas);
    this.set("numDecode", decode);
    for (const pool of ["prefill", "decode", "backend"] as const)
      this.replicas.set({ pool }, obs.pools[pool].replicas);
    const want = (p: PoolName) => adj.decisions.find((d) => d.pool === p)?.desired;
    this.set("predictedNumPrefill", want("prefill"));
    this.set("predictedNumDecode", want("decode") ?? want("backend"));
    for (const d of adj.decisions) {
      this.desired.set({ pool: d.pool }, d.desired);
      if (d.desired !== d.current)
        this.scalings.inc({ pool: d.pool, direction: d.desired > d.current ? "up" : "down" });
    }
    const t = obs.traffic;
    if (t) {
      this.set("observedRps", t.requests / intervalS);
      if (t.requests > 0) {
        this.set("observedTtft", t.ttftMs);
        this.set("observedItl", t.itlMs);
        this.set("observedDuration", t.durationS);
        this.set("observedIsl", t.isl);
        this.set("observedOsl", t.osl);
      }
    }
    this.set("predictedRps", adj.predicted?.requestsPerSecond);
    this.set("predictedIsl", adj.predicted?.isl);
    this.set("predictedOsl", adj.predicted?.osl);
    this.set("estimatedTtft", adj.forecast?.ttftMs);
    this.set("estimatedItl", adj.forecast?.itlMs);
    this.set("expectedTtft", adj.expected?.ttftMs);
    this.set("expectedItl", adj.expected?.itlMs);
    this.correction.set({ phase: "prefill" }, adj.correction.prefill);
    this.correction.set({ phase: "decode" }, adj.correction.decode);
    // GPU time since the last adjustment at the sizes that held during it.
    if (this.lastAt !== undefined) {
      const gpus = (["prefill", "decode", "backend"] as const).reduce(
        (sum, p) => sum + obs.pools[p].replicas * gpusPerEngine(p),
        0,
      );
      this.gpuSeconds += (gpus * (adj.atMs - this.lastAt)) / 1000;
      this.set("gpuHours", this.gpuSeconds / 3600);
    }
    this.lastAt = adj.atMs;
  }
}
