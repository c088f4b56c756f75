// What a mode's decision may not do: go outside a pool's min/max, exceed the GPU budget, or shrink a pool before
// the lower size has held for the stabilisation window. Pure; times come in as arguments.
import type { PoolDecision, PoolName } from "./decide.js";

export interface PoolLimits {
  min: number;
  /** Infinity when unbounded. */
  max: number;
  /** GPUs one engine of the pool takes (Dynamo's --prefill-engine-num-gpu / --decode-engine-num-gpu). */
  gpusPerEngine: number;
}

/** Clamps each pool to [min, max]. */
export function clampToLimits(
  decisions: PoolDecision[],
  limits: Readonly<Record<PoolName, PoolLimits>>,
): PoolDecision[] {
  return decisions.map((d) => {
    const { min, max } = limits[d.pool];
    const desired = Math.min(max, Math.max(min, d.desired));
    if (desired === d.desired) return d;
    return { ...d, desired, reason: `${d.reason}; clamped to ${desired} (min ${min}, max ${max})` };
  });
}

/**
 * Fits the decisions into `budget` GPUs (Dynamo's --max-gpu-budget; negative: none). Like Dynamo, it scales
 * every pool down by the same factor, never below its minimum, then takes engines from the largest pool until
 * the total fits.
 */
export function fitGpuBudget(
  decisions: PoolDecision[],
  limits: Readonly<Record<PoolName, PoolLimits>>,
  budget: number,
): PoolDecision[] {
  if (budget < 0) return decisions;
  const gpus = (ds: PoolDecision[]) =>
    ds.reduce((sum, d) => sum + d.desired * limits[d.pool].gpusPerEngine, 0);
  const total = gpus(decisions);
  if (total <= budget) return decisions;
  const scale = budget / total;
  const out = decisions.map((d) => ({
    ...d,
    desired: Math.max(limits[d.pool].min, Math.floor(d.desired * scale)),
  }));
  while (gpus(out) > budget) {
    const largest = out
      .filter((d) => d.desired > limits[d.pool].min)
      .sort((a, b) => b.desired * limits[b.pool].gpusPerEngine - a.desired * limits[a.pool].gpusPerEngine)[0];
    if (!largest) break;
    largest.desired--;
  }
  return out.map((d, i) => {
    const before = decisions[i];
    return before && before.desired !== d.desired
      ? {
          ...d,
          reason: `${d.reason}; capped to ${d.desired} by the GPU budget (${budget} GPUs, wanted ${total})`,
        }
      : d;
  });
}

/**
 * Scale-down stabilisation (as Kubernetes' HPA): a pool shrinks only to the highest size any decision asked for
 * within the window, so one quiet interval between bursts does not drain workers that are needed again.
 */
export class ScaleDownStabiliser {
  private readonly history = new Map<PoolName, { at: number; desired: number }[]>();
  constructor(private readonly windowMs: number) {}

  apply(decisions: PoolDecision[], nowMs: number): PoolDecision[] {
    return decisions.map((d) => {
      const entries = (this.history.get(d.pool) ?? []).filter((e) => nowMs - e.at < this.windowMs);
      entries.push({ at: nowMs, desired: d.desired });
      this.history.set(d.pool, entries);
      if (d.desired >= d.current) return d;
      const held = Math.min(d.current, Math.max(...entries.map((e) => e.desired)));
      if (held === d.desired) return d;
      return {
        ...d,
        desired: held,
        reason: `${d.reason}; scale-down to ${d.desired} held at ${held} (stabilisation ${this.windowMs / 1000} s)`,
      };
    });
  }
}
