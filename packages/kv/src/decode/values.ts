// Lenient readers for decoded msgpack values. Each returns undefined (or a sentinel) rather than throwing, so
// the decoders can count malformed input instead of crashing on it.
import { decode } from "@msgpack/msgpack";

export type Msgpack = unknown;
export type MsgpackMap = Record<string, unknown>;

/** Decodes one msgpack value; undefined when the bytes are not exactly one valid value. */
export function decodeMsgpack(bytes: Uint8Array): { value: Msgpack } | undefined {
  // A container of n entries needs at least n bytes, so bounding lengths by the payload size stops a forged
  // header from making the decoder allocate a huge array before it runs out of data.
  const limit = Math.max(bytes.length, 1);
  try {
    const value = decode(bytes, {
      useBigInt64: true,
      maxArrayLength: limit,
      maxMapLength: limit,
      maxStrLength: limit,
      maxBinLength: limit,
      maxExtLength: limit,
    });
    return { value };
  } catch {
    return undefined;
  }
}

export function isMap(v: Msgpack): v is MsgpackMap {
  return (
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Uint8Array) &&
    !(v instanceof Date)
  );
}

/** Own property of a decoded map (never an inherited one such as `constructor`). */
export function field(m: MsgpackMap, key: string): Msgpack {
  return Object.hasOwn(m, key) ? m[key] : undefined;
}

/** Positional slot; a missing trailing slot reads as nil. */
export function slot(a: readonly Msgpack[], i: number): Msgpack {
  return i < a.length ? a[i] : undefined;
}

export function isNil(v: Msgpack): boolean {
  return v === undefined || v === null;
}

/** A non-negative safe integer, from a number or bigint. */
export function asUint(v: Msgpack): number | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v === "bigint") return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
  return undefined;
}

export function asString(v: Msgpack): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/**
 * An engine block hash folded to u64: integers (signed or unsigned) wrap to 64 bits; bytes fold to their last
 * 8 bytes big-endian (fewer bytes read as a big-endian integer), which equals vLLM's integer form.
 */
export function foldHash(v: Msgpack): bigint | undefined {
  if (typeof v === "bigint") return BigInt.asUintN(64, v);
  if (typeof v === "number") return Number.isSafeInteger(v) ? BigInt.asUintN(64, BigInt(v)) : undefined;
  if (v instanceof Uint8Array) {
    if (v.length === 0) return undefined;
    let h = 0n;
    for (let i = Math.max(0, v.length - 8); i < v.length; i++) h = (h << 8n) | BigInt(v[i] as number);
    return h;
  }
  return undefined;
}

export function foldHashes(v: Msgpack): bigint[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: bigint[] = [];
  for (const x of v) {
    const h = foldHash(x);
    if (h === undefined) return undefined;
    out.push(h);
  }
  return out;
}

const U32_MAX = 0xffffffff;

/** Token ids as u32. A pair `[t, t']` (SGLang EAGLE bigram form) counts as its first token. */
export function asTokenIds(v: Msgpack): number[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: number[] = [];
  for (const x of v) {
    const t = asUint(Array.isArray(x) ? x[0] : x);
    if (t === undefined || t > U32_MAX) return undefined;
    out.push(t);
  }
  return out;
}
