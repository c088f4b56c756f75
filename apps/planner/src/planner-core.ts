// One adjustment of the planner as a pure step: observations in (with the time), decisions out. The service
// (planner.ts) gathers the observations and applies the decisions; tests drive this with recorded series.
import {
  decideLoad,
  decideSaturation,
  decideSla,
  LATENCY_THRESHOLDS,
  type PlannerMode,
  type PoolDecision,
  type PoolName,
  type PoolObservation,
  poolsOf,
  type SaturationThresholds,
  type SlaTargets,
  sizeForSla,
  THROUGHPUT_THRESHOLDS,
  type Topology,
  type Traffic,
} from "./decide.js";
import { clampToLimits, fitGpuBudget, type PoolLimits, ScaleDownStabiliser } from "./limits.js";
import { Correction, type PerfModel } from "./perf-model.js";
import {
  createPredictor,
  type LoadPredictor,
  type LoadPredictorName,
  type PredictorOptions,
} from "./predictors.js";

export interface PlannerCoreConfig {
  mode: PlannerMode;
  topology: Topology;
  intervalS: number;
  /** Required in sla mode. */
  targets?: SlaTargets;
  perf?: PerfModel;
  predictor: LoadPredictorName;
  predictorOptions?: Partial<PredictorOptions>;
  limits: Record<PoolName, PoolLimits>;
  /** GPUs; negative for none. */
  gpuBudget: number;
  scaleDownStabilisationMs: number;
  /** load mode: requests one worker should carry. */
  loadTargetConcurrency: number;
  /** Observed/predicted correction of the performance model (Dynamo's --no-correction turns it off). */
  correction: boolean;
  thresholds?: SaturationThresholds;
}

export interface Observation {
  nowMs: number;
  /** The frontends' traffic over the last interval; absent when no source answered. */
  traffic?: Traffic;
  pools: Record<PoolName, PoolObservation>;
}

export interface Adjustment {
  atMs: number;
  decisions: PoolDecision[];
  predicted?: { requests: number; isl: number; osl: number; requestsPerSecond: number };
  /** What the model predicted for the last interval's observed traffic and sizes, and what was observed. */
  observed?: { ttftMs: number; itlMs: number };
  expected?: { ttftMs: number; itlMs: number };
  /** What the model predicts for the decided sizes. */
  forecast?: { ttftMs: number; itlMs: number };
  correction: { prefill: number; decode: number };
}

export class PlannerCore {
  private readonly requests: LoadPredictor;
  private readonly isl: LoadPredictor;
  private readonly osl: LoadPredictor;
  private readonly concurrency = new Map<PoolName, LoadPredictor>();
  private readonly correction: Correction;
  private readonly stabiliser: ScaleDownStabiliser;

  constructor(readonly config: PlannerCoreConfig) {
    if (config.mode === "sla" && (!config.targets || !config.perf)) {
      throw new RangeError("sla mode needs --ttft, --itl and a performance profile (--profile-results-dir)");
    }
    const make = () => createPredictor(config.predictor, config.predictorOptions);
    this.requests = make();
    this.isl = make();
    this.osl = make();
    for (const pool of poolsOf(config.topology)) this.concurrency.set(pool, make());
    this.correction = new Correction(config.correction);
    this.stabiliser = new ScaleDownStabiliser(config.scaleDownStabilisationMs);
  }

  step(obs: Observation): Adjustment {
    const { config } = this;
    const pools = poolsOf(config.topology);
    let raw: PoolDecision[];
    const out: Omit<Adjustment, "decisions"> = {
      atMs: obs.nowMs,
      correction: { prefill: this.correction.prefill, decode: this.correction.decode },
    };
    if (config.mode === "sla") {
      raw = this.sla(obs, pools, out);
    } else if (config.mode === "load") {
      raw = pools.map((pool) => {
        const o = obs.pools[pool];
        const predictor = this.concurrency.get(pool);
        const now = o.workers.reduce((a, w) => a + w.running + w.waiting, 0);
        predictor?.observe(now);
        return decideLoad(o, predictor?.predict() ?? now, config.loadTargetConcurrency);
      });
    } else {
      const t = config.thresholds ?? (config.mode === "latency" ? LATENCY_THRESHOLDS : THROUGHPUT_THRESHOLDS);
      raw = pools.map((pool) => decideSaturation(obs.pools[pool], t));
    }
    const clamped = clampToLimits(raw, config.limits);
    const budgeted = fitGpuBudget(clamped, config.limits, config.gpuBudget);
    return { ...out, decisions: this.stabiliser.apply(budgeted, obs.nowMs) };
  }

  private sla(obs: Observation, pools: PoolName[], out: Omit<Adjustment, "decisions">): PoolDecision[] {
    const { config } = this;
    const perf = config.perf;
    const targets = config.targets;
    const traffic = obs.traffic;
    const unchanged = (reason: string) =>
      pools.map((pool) => ({
        pool,
        current: obs.pools[pool].replicas,
        desired: obs.pools[pool].replicas,
        reason,
      }));
    if (!perf || !targets) return unchanged("sla: no performance model");
    if (!traffic) return unchanged("sla: no traffic data");

    this.requests.observe(traffic.requests);
    if (traffic.requests > 0) {
      this.isl.observe(traffic.isl);
      this.osl.observe(traffic.osl);
      this.correct(perf, traffic, obs, out);
    }
    const requests = this.requests.predict();
    const isl = this.isl.predict();
    const osl = this.osl.predict();
    out.predicted = { requests, isl, osl, requestsPerSecond: requests / config.intervalS };
    if (isl <= 0 || osl <= 0) return unchanged("sla: no request seen yet");
    const sizing = sizeForSla(perf, targets, {
      requests,
      isl,
      osl,
      intervalS: config.intervalS,
      prefillCorrection: this.correction.prefill,
      decodeCorrection: this.correction.decode,
    });
    out.forecast = { ttftMs: sizing.predictedTtftMs, itlMs: sizing.predictedItlMs };
    const current = {
      prefill: obs.pools.prefill.replicas,
      decode: obs.pools.decode.replicas,
      backend: obs.pools.backend.replicas,
    };
    return decideSla(config.topology, current, sizing);
  }

  /** Updates the correction factors from what the last interval showed against what the table predicts for it. */
  private correct(
    perf: PerfModel,
    traffic: Traffic,
    obs: Observation,
    out: Omit<Adjustment, "decisions">,
  ): void {
    const decodePool = this.config.topology === "agg" ? "backend" : "decode";
    const engines = Math.max(1, obs.pools[decodePool].replicas);
    // Little's law: requests in flight on one decode engine during the interval.
    const concurrency = (traffic.requests / engines) * (traffic.durationS / this.config.intervalS);
    const context = traffic.isl + traffic.osl / 2;
    const expectedTtft = perf.ttftMs(traffic.isl);
    const expectedItl = perf.itlMs(Math.max(context, concurrency * context), context);
    out.observed = { ttftMs: traffic.ttftMs, itlMs: traffic.itlMs };
    out.expected = { ttftMs: expectedTtft, itlMs: expectedItl };
    if (traffic.ttftMs > 0) this.correction.updatePrefill(traffic.ttftMs, expectedTtft);
    if (traffic.itlMs > 0) this.correction.updateDecode(traffic.itlMs, expectedItl);
    out.correction = { prefill: this.correction.prefill, decode: this.correction.decode };
  }
}
