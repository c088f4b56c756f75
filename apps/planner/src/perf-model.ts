// The sla mode's performance model: Dynamo's profiling tables (TTFT against prompt length for one prefill engine,
// ITL against active KV tokens and context length for one decode engine), the perf profile the mocker's
// --perf-profile reads (@kvasir/protocol owns its shape, check and interpolation), read as capacities and corrected
// at run time by observed/predicted latency.
import { decodeStepMs, type PerfProfile, prefillStepMs } from "@kvasir/protocol";

/** Latencies are never below this (ms): capacities divide by them, and a table must not promise free work. */
const MIN_MS = 0.01;

export interface DecodeCapacity {
  /** Output tokens per second one decode engine sustains within the ITL target. */
  tokensPerSecond: number;
  /** Active KV tokens at that point, and its concurrency (sequences). */
  activeKvTokens: number;
  concurrency: number;
  /** The ITL the table predicts there (ms). */
  itlMs: number;
  /** False when even the lightest profiled load misses the target (then the lightest point is returned). */
  meetsTarget: boolean;
}

/** The table read as one engine's capacities. Corrections are applied by the caller (see Correction). */
export class PerfModel {
  constructor(readonly profile: PerfProfile) {}

  /** TTFT (ms) of a lone prompt of `isl` tokens on one prefill engine. */
  ttftMs(isl: number): number {
    return Math.max(MIN_MS, prefillStepMs(this.profile, isl));
  }

  /** Prompt tokens per second one prefill engine processes at this prompt length. */
  prefillTokensPerSecond(isl: number): number {
    return (Math.max(1, isl) / this.ttftMs(isl)) * 1000;
  }

  /** ITL (ms) of a decode step with `activeKvTokens` tokens attended at mean context `contextLength`. */
  itlMs(activeKvTokens: number, contextLength: number): number {
    return Math.max(MIN_MS, decodeStepMs(this.profile, activeKvTokens, contextLength));
  }

  /**
   * The most output tokens per second one decode engine gives at `contextLength` with ITL at most `itlTargetMs`:
   * scans active KV from one sequence up to the profiled maximum (Dynamo's find_best_throughput_per_gpu).
   */
  decodeCapacity(itlTargetMs: number, contextLength: number, steps = 200): DecodeCapacity {
    const ctx = Math.max(1, contextLength);
    const maxKv = Math.max(ctx, this.profile.decodeKvTokens.at(-1) ?? ctx);
    const at = (kv: number): DecodeCapacity => {
      const itlMs = this.itlMs(kv, ctx);
      const concurrency = kv / ctx;
      return {
        tokensPerSecond: (concurrency / itlMs) * 1000,
        activeKvTokens: kv,
        concurrency,
        itlMs,
        meetsTarget: true,
      };
    };
    let best: DecodeCapacity | undefined;
    for (let s = 0; s <= steps; s++) {
      const point = at(ctx + ((maxKv - ctx) * s) / steps);
      if (point.itlMs <= itlTargetMs && (!best || point.tokensPerSecond > best.tokensPerSecond)) best = point;
    }
    return best ?? { ...at(ctx), meetsTarget: false };
  }
}

/**
 * Observed/predicted latency ratios (Dynamo's p_correction_factor and d_correction_factor): the profile was taken
 * on another day, maybe another engine build; the ratio of what the deployment shows to what the table predicts
 * scales the table at run time. Clamped so that one odd interval cannot swing the pools by orders of magnitude.
 */
export class Correction {
  prefill = 1;
  decode = 1;
  constructor(
    private readonly enabled = true,
    private readonly bounds: [number, number] = [0.05, 20],
  ) {}

  private ratio(observed: number, predicted: number, current: number): number {
    if (!this.enabled) return 1;
    if (!(observed > 0) || !(predicted > 0)) return current;
    return Math.min(this.bounds[1], Math.max(this.bounds[0], observed / predicted));
  }

  updatePrefill(observedTtftMs: number, predictedTtftMs: number): number {
    this.prefill = this.ratio(observedTtftMs, predictedTtftMs, this.prefill);
    return this.prefill;
  }

  updateDecode(observedItlMs: number, predictedItlMs: number): number {
    this.decode = this.ratio(observedItlMs, predictedItlMs, this.decode);
    return this.decode;
  }
}
