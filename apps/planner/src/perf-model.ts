// The sla mode's performance model: Dynamo's profiling tables (TTFT against prompt length for one prefill engine,
// ITL against active KV tokens and context length for one decode engine), the layout the mocker's --perf-profile
// reads, interpolated to capacities and corrected at run time by observed/predicted latency.

/** Dynamo's profiling arrays (its perf_data.npz keys), as the mocker's --perf-profile JSON holds them. */
export interface PerfTable {
  prefill_isl: number[];
  prefill_ttft_ms: number[];
  decode_active_kv_tokens: number[];
  decode_context_length: number[];
  /** Rows follow decode_active_kv_tokens, columns decode_context_length. */
  decode_itl: number[][];
}

function numbers(key: string, v: unknown, increasing: boolean): number[] {
  if (!Array.isArray(v) || v.length === 0)
    throw new RangeError(`perf profile: ${key} must be a non-empty array`);
  const out: number[] = [];
  for (const x of v) {
    if (typeof x !== "number" || !Number.isFinite(x) || x < 0) {
      throw new RangeError(`perf profile: ${key} must hold finite non-negative numbers`);
    }
    if (increasing && out.length > 0 && !(x > (out.at(-1) ?? 0))) {
      throw new RangeError(`perf profile: ${key} must be strictly increasing`);
    }
    out.push(x);
  }
  return out;
}

/** Checks a parsed JSON value against the table layout; the RangeError says what is wrong. */
export function parsePerfTable(json: unknown): PerfTable {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new RangeError("perf profile must be a JSON object");
  }
  const o = new Map(Object.entries(json));
  const isl = numbers("prefill_isl", o.get("prefill_isl"), true);
  const ttft = numbers("prefill_ttft_ms", o.get("prefill_ttft_ms"), false);
  const kv = numbers("decode_active_kv_tokens", o.get("decode_active_kv_tokens"), true);
  const ctx = numbers("decode_context_length", o.get("decode_context_length"), true);
  if (ttft.length !== isl.length)
    throw new RangeError("perf profile: prefill_ttft_ms and prefill_isl differ in length");
  const rows = o.get("decode_itl");
  if (!Array.isArray(rows) || rows.length !== kv.length) {
    throw new RangeError(
      `perf profile: decode_itl needs one row per decode_active_kv_tokens entry (${kv.length})`,
    );
  }
  const itl = rows.map((row: unknown, i) => {
    const r = numbers(`decode_itl[${i}]`, row, false);
    if (r.length !== ctx.length)
      throw new RangeError(`perf profile: decode_itl[${i}] needs ${ctx.length} entries`);
    return r;
  });
  return {
    prefill_isl: isl,
    prefill_ttft_ms: ttft,
    decode_active_kv_tokens: kv,
    decode_context_length: ctx,
    decode_itl: itl,
  };
}

function segment(xs: readonly number[], x: number): { i: number; t: number } {
  if (xs.length === 1) return { i: 0, t: 0 };
  let i = 0;
  while (i < xs.length - 2 && x >= (xs[i + 1] ?? 0)) i++;
  const x0 = xs[i] ?? 0;
  const x1 = xs[i + 1] ?? x0;
  return { i, t: (x - x0) / (x1 - x0) };
}

/** Linear interpolation, extrapolated linearly past either end (as Dynamo's interpolators). */
export function lerp(xs: readonly number[], ys: readonly number[], x: number): number {
  const { i, t } = segment(xs, x);
  const y0 = ys[i] ?? 0;
  const y1 = ys[i + 1] ?? y0;
  return y0 + t * (y1 - y0);
}

/** Bilinear interpolation of z[i][j] at (xs[i], ys[j]). */
export function bilerp(
  xs: readonly number[],
  ys: readonly number[],
  z: readonly number[][],
  x: number,
  y: number,
) {
  const column = z.map((row) => lerp(ys, row, y));
  return lerp(xs, column, x);
}

/** Latencies are never below this (ms): extrapolating a table down to 0 must not promise free work. */
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
  constructor(readonly table: PerfTable) {}

  /** TTFT (ms) of a lone prompt of `isl` tokens on one prefill engine. */
  ttftMs(isl: number): number {
    return Math.max(MIN_MS, lerp(this.table.prefill_isl, this.table.prefill_ttft_ms, isl));
  }

  /** Prompt tokens per second one prefill engine processes at this prompt length. */
  prefillTokensPerSecond(isl: number): number {
    return (Math.max(1, isl) / this.ttftMs(isl)) * 1000;
  }

  /** ITL (ms) of a decode step with `activeKvTokens` tokens attended at mean context `contextLength`. */
  itlMs(activeKvTokens: number, contextLength: number): number {
    const { decode_active_kv_tokens: kv, decode_context_length: ctx, decode_itl: z } = this.table;
    return Math.max(MIN_MS, bilerp(kv, ctx, z, activeKvTokens, contextLength));
  }

  /**
   * The most output tokens per second one decode engine gives at `contextLength` with ITL at most `itlTargetMs`:
   * scans active KV from one sequence up to the profiled maximum (Dynamo's find_best_throughput_per_gpu).
   */
  decodeCapacity(itlTargetMs: number, contextLength: number, steps = 200): DecodeCapacity {
    const ctx = Math.max(1, contextLength);
    const maxKv = Math.max(ctx, this.table.decode_active_kv_tokens.at(-1) ?? ctx);
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
