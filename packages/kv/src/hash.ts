// KV block hashing: the one place that defines Kvasir's local and sequence block hashes (docs/kv-hashing.md).
import { resultHi, resultLo, xxh3TwoWords, xxh3Words } from "./xxh3.js";

/** Seed of every KV block hash (Dynamo's choice). */
export const KV_HASH_SEED = 1337n;

const U64_MASK = 0xffffffffffffffffn;
const SEED_HI = Number(KV_HASH_SEED >> 32n);
const SEED_LO = Number(KV_HASH_SEED & 0xffffffffn);
const utf8 = new TextEncoder();

// BigUint64Array elements use the platform's byte order; writing their halves through a Uint32Array view is
// only right on little-endian hosts (every Node target in practice). Big-endian hosts take the BigInt path.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export interface HashOptions {
  /** LoRA adapter name; the same tokens under two adapters never share a hash. */
  loraName?: string;
  /** Per-tenant cache salt; isolates prefix caches of different salts. */
  cacheSalt?: string;
}

/** XXH3-64 of `data` with `seed` (default 0), as an unsigned 64-bit bigint. */
export function xxh3_64(data: Uint8Array, seed = 0n): bigint {
  const s = BigInt.asUintN(64, seed);
  xxh3Words(data, 0, data.length, Number(s >> 32n), Number(s & 0xffffffffn));
  return (BigInt(resultHi()) << 32n) | BigInt(resultLo());
}

/**
 * Seed for a request's block hashes. 1337 without LoRA and salt; otherwise 1337 plus the XXH3-64 (seed 0) of
 * the LoRA name, or of `lora + "\0" + salt` when a salt is given, wrapping at 2^64. Empty strings count as absent.
 */
export function hashSeed(opts?: HashOptions): bigint {
  const lora = opts?.loraName ?? "";
  const salt = opts?.cacheSalt ?? "";
  if (lora === "" && salt === "") return KV_HASH_SEED;
  const material = salt === "" ? lora : `${lora}\0${salt}`;
  return (KV_HASH_SEED + xxh3_64(utf8.encode(material))) & U64_MASK;
}

/** Tokens per KV block when neither a flag nor a model card says otherwise (vLLM's default too). */
export const DEFAULT_KV_BLOCK_SIZE = 16;

function checkBlockSize(blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new RangeError(`block size must be a positive integer, got ${blockSize}`);
  }
}

/** Token ids of the full blocks as little-endian u32 bytes. */
function tokenBytes(tokens: ArrayLike<number>, count: number): Uint8Array {
  // A Uint32Array already holds exactly those bytes on little-endian hosts: hash it in place.
  if (LITTLE_ENDIAN && tokens instanceof Uint32Array)
    return new Uint8Array(tokens.buffer, tokens.byteOffset, count * 4);
  const bytes = new Uint8Array(count * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) view.setUint32(i * 4, (tokens[i] as number) >>> 0, true);
  return bytes;
}

/** Local hash of every full block: XXH3-64(token ids as LE u32, seed = hashSeed(opts)). */
export function computeLocalHashes(
  tokens: ArrayLike<number>,
  blockSize: number,
  opts?: HashOptions,
): BigUint64Array {
  checkBlockSize(blockSize);
  const blocks = Math.floor(tokens.length / blockSize);
  const out = new BigUint64Array(blocks);
  if (blocks === 0) return out;
  const bytes = tokenBytes(tokens, blocks * blockSize);
  const seed = hashSeed(opts);
  const sh = Number(seed >> 32n);
  const sl = Number(seed & 0xffffffffn);
  const blockBytes = blockSize * 4;
  const words = LITTLE_ENDIAN ? new Uint32Array(out.buffer) : undefined;
  for (let b = 0; b < blocks; b++) {
    xxh3Words(bytes, b * blockBytes, blockBytes, sh, sl);
    if (words !== undefined) {
      words[2 * b] = resultLo();
      words[2 * b + 1] = resultHi();
    } else {
      out[b] = (BigInt(resultHi()) << 32n) | BigInt(resultLo());
    }
  }
  return out;
}

/** Sequence hashes: seq[0] = local[0]; seq[i] = XXH3-64(le_u64(seq[i-1]) || le_u64(local[i]), 1337). */
export function computeSeqHashes(local: BigUint64Array): BigUint64Array {
  const n = local.length;
  const out = new BigUint64Array(n);
  if (n === 0) return out;
  if (LITTLE_ENDIAN) {
    const inW = new Uint32Array(local.buffer, local.byteOffset, n * 2);
    const outW = new Uint32Array(out.buffer);
    let ph = inW[1] as number;
    let pl = inW[0] as number;
    outW[0] = pl;
    outW[1] = ph;
    for (let i = 1; i < n; i++) {
      xxh3TwoWords(ph, pl, inW[2 * i + 1] as number, inW[2 * i] as number, SEED_HI, SEED_LO);
      ph = resultHi();
      pl = resultLo();
      outW[2 * i] = pl;
      outW[2 * i + 1] = ph;
    }
    return out;
  }
  let prev = local[0] as bigint;
  out[0] = prev;
  for (let i = 1; i < n; i++) {
    const cur = local[i] as bigint;
    xxh3TwoWords(
      Number(prev >> 32n),
      Number(prev & 0xffffffffn),
      Number(cur >> 32n),
      Number(cur & 0xffffffffn),
      SEED_HI,
      SEED_LO,
    );
    prev = (BigInt(resultHi()) << 32n) | BigInt(resultLo());
    out[i] = prev;
  }
  return out;
}

/** Sequence hash of one block given its parent's sequence hash (undefined for the first block). */
export function nextSeqHash(parentSeq: bigint | undefined, local: bigint): bigint {
  if (parentSeq === undefined) return local;
  xxh3TwoWords(
    Number(parentSeq >> 32n),
    Number(parentSeq & 0xffffffffn),
    Number(local >> 32n),
    Number(local & 0xffffffffn),
    SEED_HI,
    SEED_LO,
  );
  return (BigInt(resultHi()) << 32n) | BigInt(resultLo());
}

/** Local and sequence hashes of every full block. */
export function computeBlockHashes(
  tokens: ArrayLike<number>,
  blockSize: number,
  opts?: HashOptions,
): { local: BigUint64Array; seq: BigUint64Array } {
  const local = computeLocalHashes(tokens, blockSize, opts);
  return { local, seq: computeSeqHashes(local) };
}
