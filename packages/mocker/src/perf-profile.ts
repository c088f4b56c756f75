// Profiled timings in Dynamo's mocker perf-data layout (the arrays of its perf_data.npz, here as JSON).

/** Dynamo's perf-data arrays. `decode_itl[i][j]` is the ITL at `decode_active_kv_tokens[i]`, `decode_context_length[j]`. */
export interface PerfProfile {
  /** Prefill tokens of a step (increasing). */
  prefill_isl: number[];
  /** Prefill time in ms at each `prefill_isl`. */
  prefill_ttft_ms: number[];
  /** Total KV tokens attended by the decoding sequences of a step (increasing). */
  decode_active_kv_tokens: number[];
  /** Mean context length of the decoding sequences (increasing). */
  decode_context_length: number[];
  /** Decode step time in ms; rows follow `decode_active_kv_tokens`, columns `decode_context_length`. */
  decode_itl: number[][];
}

function numberArray(key: string, v: unknown): number[] {
  if (!Array.isArray(v) || v.length === 0)
    throw new RangeError(`perf profile: ${key} must be a non-empty array`);
  for (const x of v) {
    if (typeof x !== "number" || !Number.isFinite(x)) {
      throw new RangeError(`perf profile: ${key} must hold finite numbers only`);
    }
  }
  return v as number[];
}

function increasing(key: string, xs: number[]): void {
  for (let i = 1; i < xs.length; i++) {
    if (!((xs[i] as number) > (xs[i - 1] as number))) {
      throw new RangeError(`perf profile: ${key} must be strictly increasing`);
    }
  }
}

/** Checks a parsed JSON value against the PerfProfile layout; throws a RangeError that says what is wrong. */
export function parsePerfProfile(json: unknown): PerfProfile {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new RangeError("perf profile must be a JSON object");
  }
  const obj = json as Record<string, unknown>;
  const prefillIsl = numberArray("prefill_isl", obj.prefill_isl);
  const prefillTtft = numberArray("prefill_ttft_ms", obj.prefill_ttft_ms);
  const activeKv = numberArray("decode_active_kv_tokens", obj.decode_active_kv_tokens);
  const context = numberArray("decode_context_length", obj.decode_context_length);
  increasing("prefill_isl", prefillIsl);
  increasing("decode_active_kv_tokens", activeKv);
  increasing("decode_context_length", context);
  if (prefillIsl.length !== prefillTtft.length) {
    throw new RangeError(
      `perf profile: prefill_isl has ${prefillIsl.length} entries but prefill_ttft_ms has ${prefillTtft.length}`,
    );
  }
  const itl = obj.decode_itl;
  if (!Array.isArray(itl) || itl.length !== activeKv.length) {
    throw new RangeError(
      `perf profile: decode_itl must have one row per decode_active_kv_tokens entry (${activeKv.length})`,
    );
  }
  const rows = (itl as unknown[]).map((value, i) => {
    const row = numberArray(`decode_itl[${i}]`, value);
    if (row.length !== context.length) {
      throw new RangeError(
        `perf profile: decode_itl row ${i} has ${row.length} entries, decode_context_length has ${context.length}`,
      );
    }
    return row;
  });
  return {
    prefill_isl: prefillIsl,
    prefill_ttft_ms: prefillTtft,
    decode_active_kv_tokens: activeKv,
    decode_context_length: context,
    decode_itl: rows,
  };
}

/** Segment of `xs` used for x, and x's position in it (outside [0, 1] when extrapolating). */
function locate(xs: number[], x: number): { i: number; t: number } {
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

/** Linear interpolation, extrapolating the end segments linearly (as Dynamo's mocker). */
export function interpolate1d(xs: number[], ys: number[], x: number): number {
  const { i, t } = locate(xs, x);
  const y0 = ys[i] as number;
  const y1 = ys[i + 1] ?? y0;
  return y0 + t * (y1 - y0);
}

/** Bilinear interpolation over the grid z[i][j] at (xs[i], ys[j]), extrapolating linearly at the edges. */
export function interpolate2d(xs: number[], ys: number[], z: number[][], x: number, y: number): number {
  const { i, t } = locate(xs, x);
  const { i: j, t: u } = locate(ys, y);
  const r0 = z[i] as number[];
  const r1 = z[i + 1] ?? r0;
  const at = (row: number[], k: number): number => row[k] ?? (row[j] as number);
  const z00 = at(r0, j);
  const z01 = at(r0, j + 1);
  const z10 = at(r1, j);
  const z11 = at(r1, j + 1);
  return (1 - t) * ((1 - u) * z00 + u * z01) + t * ((1 - u) * z10 + u * z11);
}
