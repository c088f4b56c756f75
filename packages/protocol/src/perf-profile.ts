// An engine's performance profile: the one definition of its shape, its check and its interpolation, for the mocker
// (step timings), the KV router (`--router-cost-model ttft`) and the SLA planner. Two layouts hold the same five
// arrays: Dynamo's perf-data keys (its perf_data.npz, as the `--perf-profile` JSON files and `kvasir profile` write
// them) and the Model Deployment Card's camelCase keys; in memory it is always the card's.
//
// Edge rules: axes non-empty and strictly increasing, all numbers finite and >= 0 (else refused); linear between
// points, the end segments extended past either end (as Dynamo's mocker), one point constant; step times >= 0, 0 for
// no work.

/** In memory and in the card. `decodeMs[i][j]` is the step time at `decodeKvTokens[i]`, `decodeContextLength[j]`. */
export interface PerfProfile {
  /** Prefill tokens of a step (strictly increasing). */
  prefillTokens: number[];
  /** Milliseconds of a step prefilling that many tokens. */
  prefillMs: number[];
  /** Total KV tokens the decoding sequences of a step attend (strictly increasing). */
  decodeKvTokens: number[];
  /** Mean context length of the decoding sequences (strictly increasing). */
  decodeContextLength: number[];
  /** Decode step milliseconds: one row per `decodeKvTokens`, one column per `decodeContextLength`. */
  decodeMs: number[][];
}

/** The same arrays under Dynamo's perf_data.npz keys: the profile files' layout. */
export interface PerfProfileFile {
  prefill_isl: number[];
  prefill_ttft_ms: number[];
  decode_active_kv_tokens: number[];
  decode_context_length: number[];
  decode_itl: number[][];
}

type Keys = Record<keyof PerfProfile, string>;
const CARD_KEYS: Keys = {
  prefillTokens: "prefillTokens",
  prefillMs: "prefillMs",
  decodeKvTokens: "decodeKvTokens",
  decodeContextLength: "decodeContextLength",
  decodeMs: "decodeMs",
};
const FILE_KEYS: Keys = {
  prefillTokens: "prefill_isl",
  prefillMs: "prefill_ttft_ms",
  decodeKvTokens: "decode_active_kv_tokens",
  decodeContextLength: "decode_context_length",
  decodeMs: "decode_itl",
};

function numbers(key: string, v: unknown): number[] {
  if (!Array.isArray(v) || v.length === 0)
    throw new RangeError(`perf profile: ${key} must be a non-empty array`);
  const out: number[] = [];
  for (const x of v) {
    if (typeof x !== "number" || !Number.isFinite(x) || x < 0) {
      throw new RangeError(`perf profile: ${key} must hold finite non-negative numbers only`);
    }
    out.push(x);
  }
  return out;
}

function axis(key: string, v: unknown): number[] {
  const xs = numbers(key, v);
  for (let i = 1; i < xs.length; i++) {
    if (!((xs[i] as number) > (xs[i - 1] as number))) {
      throw new RangeError(`perf profile: ${key} must be strictly increasing`);
    }
  }
  return xs;
}

/**
 * Checks a parsed JSON value in either layout (Dynamo's keys when it has any of them, else the card's) and returns
 * it in the card's; the RangeError names the field, under the layout's own key.
 */
export function parsePerfProfile(json: unknown): PerfProfile {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new RangeError("perf profile must be a JSON object");
  }
  const o = new Map<string, unknown>(Object.entries(json));
  const k = Object.values(FILE_KEYS).some((key) => o.has(key)) ? FILE_KEYS : CARD_KEYS;
  const prefillTokens = axis(k.prefillTokens, o.get(k.prefillTokens));
  const prefillMs = numbers(k.prefillMs, o.get(k.prefillMs));
  if (prefillMs.length !== prefillTokens.length) {
    throw new RangeError(
      `perf profile: ${k.prefillTokens} has ${prefillTokens.length} entries but ${k.prefillMs} has ${prefillMs.length}`,
    );
  }
  const decodeKvTokens = axis(k.decodeKvTokens, o.get(k.decodeKvTokens));
  const decodeContextLength = axis(k.decodeContextLength, o.get(k.decodeContextLength));
  const rows = o.get(k.decodeMs);
  if (!Array.isArray(rows) || rows.length !== decodeKvTokens.length) {
    throw new RangeError(
      `perf profile: ${k.decodeMs} must have one row per ${k.decodeKvTokens} entry (${decodeKvTokens.length})`,
    );
  }
  const decodeMs = rows.map((value: unknown, i) => {
    const row = numbers(`${k.decodeMs}[${i}]`, value);
    if (row.length !== decodeContextLength.length) {
      throw new RangeError(
        `perf profile: ${k.decodeMs} row ${i} has ${row.length} entries, ` +
          `${k.decodeContextLength} has ${decodeContextLength.length}`,
      );
    }
    return row;
  });
  return { prefillTokens, prefillMs, decodeKvTokens, decodeContextLength, decodeMs };
}

/** The profile under Dynamo's keys, as a profile file holds it. */
export function perfProfileFile(p: PerfProfile): PerfProfileFile {
  return {
    prefill_isl: p.prefillTokens,
    prefill_ttft_ms: p.prefillMs,
    decode_active_kv_tokens: p.decodeKvTokens,
    decode_context_length: p.decodeContextLength,
    decode_itl: p.decodeMs,
  };
}

/** The profile of an engine `speedup` times as fast: every time divided by it (the mocker's --speedup-ratio). */
export function speedUpPerfProfile(p: PerfProfile, speedup: number): PerfProfile {
  return {
    ...p,
    prefillMs: p.prefillMs.map((v) => v / speedup),
    decodeMs: p.decodeMs.map((row) => row.map((v) => v / speedup)),
  };
}

/** Segment of `xs` used for x (the last one starting at or below x, else the first), and x's position in it. */
function locate(xs: readonly number[], x: number): { i: number; t: number } {
  if (xs.length === 0) throw new RangeError("perf profile: interpolation needs at least one point");
  if (xs.length === 1) return { i: 0, t: 0 };
  let lo = 0;
  let hi = xs.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((xs[mid] as number) <= x) lo = mid;
    else hi = mid - 1;
  }
  const x0 = xs[lo] as number;
  const x1 = xs[lo + 1] as number;
  return { i: lo, t: (x - x0) / (x1 - x0) };
}

/** ys at x, linear between points and extending the end segments (xs strictly increasing, as long as ys). */
export function interpolate1d(xs: readonly number[], ys: readonly number[], x: number): number {
  const { i, t } = locate(xs, x);
  const y0 = ys[i] as number;
  const y1 = ys[i + 1] ?? y0;
  return y0 + t * (y1 - y0);
}

/** z at (x, y) where z[i][j] is the value at (xs[i], ys[j]): bilinear, extending the edge cells. */
export function interpolate2d(
  xs: readonly number[],
  ys: readonly number[],
  z: readonly (readonly number[])[],
  x: number,
  y: number,
): number {
  const { i, t } = locate(xs, x);
  const r1 = z[i + 1];
  const z0 = interpolate1d(ys, z[i] as readonly number[], y);
  const z1 = r1 === undefined ? z0 : interpolate1d(ys, r1, y);
  return z0 + t * (z1 - z0);
}

/** Milliseconds of one step that prefills `tokens` new tokens. */
export function prefillStepMs(p: PerfProfile, tokens: number): number {
  return tokens <= 0 ? 0 : Math.max(0, interpolate1d(p.prefillTokens, p.prefillMs, tokens));
}

/** Milliseconds of one decode step whose sequences attend `kvTokens` tokens in all, at mean context `contextLength`. */
export function decodeStepMs(p: PerfProfile, kvTokens: number, contextLength: number): number {
  if (kvTokens <= 0) return 0;
  return Math.max(
    0,
    interpolate2d(p.decodeKvTokens, p.decodeContextLength, p.decodeMs, kvTokens, contextLength),
  );
}
