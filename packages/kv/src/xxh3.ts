// XXH3-64 (with seed), written from the published XXH3 specification.
//
// JavaScript has no fast 64-bit integer, and BigInt arithmetic allocates, so every 64-bit value here is a pair
// of unsigned 32-bit halves (hi, lo) held in plain numbers. Helpers return their 64-bit result through the
// module-level registers `rH`/`rL` to avoid allocating a pair per operation. BigInt appears only at the API
// boundary (`xxh3_64`); `xxh3Words` lets callers receive the halves directly.

const TWO_32 = 4294967296;

// Result registers for the helpers below (hi, lo halves of a u64).
let rH = 0;
let rL = 0;

const P32_1 = 0x9e3779b1;
const P32_2 = 0x85ebca77;
const P32_3 = 0xc2b2ae3d;
const P64_1_H = 0x9e3779b1;
const P64_1_L = 0x85ebca87;
const P64_2_H = 0xc2b2ae3d;
const P64_2_L = 0x27d4eb4f;
const P64_3_H = 0x165667b1;
const P64_3_L = 0x9e3779f9;
const P64_4_H = 0x85ebca77;
const P64_4_L = 0xc2b2ae63;
const P64_5_H = 0x27d4eb2f;
const P64_5_L = 0x165667c5;
const MX1_H = 0x16566791;
const MX1_L = 0x9e3779f9;
const MX2_H = 0x9fb21c65;
const MX2_L = 0x1e98df25;

const STRIPE_LEN = 64;
const SECRET_SIZE = 192;
const STRIPES_PER_BLOCK = (SECRET_SIZE - STRIPE_LEN) / 8;
const BLOCK_LEN = STRIPE_LEN * STRIPES_PER_BLOCK;
const SECRET_LASTACC_START = 7;
const SECRET_MERGEACCS_START = 11;
const MIDSIZE_STARTOFFSET = 3;
const MIDSIZE_LASTOFFSET = 17;
const SECRET_SIZE_MIN = 136;

// The default 192-byte secret from the XXH3 specification.
const DEFAULT_SECRET = new Uint8Array([
  0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c, 0xde, 0xd4,
  0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f, 0xcb, 0x79, 0xe6, 0x4e,
  0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21, 0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43,
  0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c, 0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb,
  0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3, 0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19,
  0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8, 0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7,
  0xc7, 0x0b, 0x4f, 0x1d, 0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78,
  0x73, 0x64, 0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
  0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e, 0x2b, 0x16,
  0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce, 0x45, 0xcb, 0x3a, 0x8f,
  0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
]);

function r32(b: Uint8Array, o: number): number {
  return (
    ((b[o] as number) |
      ((b[o + 1] as number) << 8) |
      ((b[o + 2] as number) << 16) |
      ((b[o + 3] as number) << 24)) >>>
    0
  );
}

function swap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/** 32x32 -> 64-bit unsigned product, via 16-bit limbs so every partial product is exact in a double. */
function mul32(a: number, b: number): void {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  rL = ((mid << 16) | (p00 & 0xffff)) >>> 0;
  rH = (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
}

/** Low 64 bits of a 64x64 product. */
function mul64(ah: number, al: number, bh: number, bl: number): void {
  mul32(al, bl);
  rH = (rH + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

/** Full 128-bit product of two u64, folded to 64 bits as low ^ high. */
function mul128Fold(ah: number, al: number, bh: number, bl: number): void {
  mul32(al, bl);
  const w0 = rL;
  const llH = rH;
  mul32(al, bh);
  const lhL = rL;
  const lhH = rH;
  mul32(ah, bl);
  const hlL = rL;
  const hlH = rH;
  mul32(ah, bh);
  let t = llH + lhL + hlL;
  const w1 = t >>> 0;
  t = rL + lhH + hlH + (t - w1) / TWO_32;
  const w2 = t >>> 0;
  const w3 = (rH + (t - w2) / TWO_32) >>> 0;
  rH = (w1 ^ w3) >>> 0;
  rL = (w0 ^ w2) >>> 0;
}

/** (ah, al) + (bh, bl) mod 2^64. */
function add64(ah: number, al: number, bh: number, bl: number): void {
  const l = al + bl;
  rL = l >>> 0;
  rH = (ah + bh + (l > 0xffffffff ? 1 : 0)) >>> 0;
}

/** (ah, al) - (bh, bl) mod 2^64. */
function sub64(ah: number, al: number, bh: number, bl: number): void {
  const l = al - bl;
  rL = l >>> 0;
  rH = (ah - bh - (l < 0 ? 1 : 0)) >>> 0;
}

function xxh64Avalanche(h: number, l: number): void {
  l = (l ^ (h >>> 1)) >>> 0; // h ^= h >> 33
  mul64(h, l, P64_2_H, P64_2_L);
  h = rH;
  l = (rL ^ ((rL >>> 29) | (h << 3))) >>> 0; // h ^= h >> 29
  h = (h ^ (h >>> 29)) >>> 0;
  mul64(h, l, P64_3_H, P64_3_L);
  rL = (rL ^ rH) >>> 0; // h ^= h >> 32
}

function xxh3Avalanche(h: number, l: number): void {
  l = (l ^ (h >>> 5)) >>> 0; // h ^= h >> 37
  mul64(h, l, MX1_H, MX1_L);
  rL = (rL ^ rH) >>> 0; // h ^= h >> 32
}

function rrmxmx(h: number, l: number, len: number): void {
  // h ^= rotl(h, 49) ^ rotl(h, 24)
  const r49h = ((l << 17) | (h >>> 15)) >>> 0;
  const r49l = ((h << 17) | (l >>> 15)) >>> 0;
  const r24h = ((h << 24) | (l >>> 8)) >>> 0;
  const r24l = ((l << 24) | (h >>> 8)) >>> 0;
  h = (h ^ r49h ^ r24h) >>> 0;
  l = (l ^ r49l ^ r24l) >>> 0;
  mul64(h, l, MX2_H, MX2_L);
  h = rH;
  l = rL;
  add64(0, h >>> 3, 0, len); // (h >> 35) + len
  h = (h ^ rH) >>> 0;
  l = (l ^ rL) >>> 0;
  mul64(h, l, MX2_H, MX2_L);
  rL = (rL ^ ((rL >>> 28) | (rH << 4))) >>> 0; // h ^= h >> 28
  rH = (rH ^ (rH >>> 28)) >>> 0;
}

function len1to3(d: Uint8Array, o: number, len: number, sh: number, sl: number): void {
  const c1 = d[o] as number;
  const c2 = d[o + (len >> 1)] as number;
  const c3 = d[o + len - 1] as number;
  const combined = ((c1 << 16) | (c2 << 24) | c3 | (len << 8)) >>> 0;
  add64(0, (r32(DEFAULT_SECRET, 0) ^ r32(DEFAULT_SECRET, 4)) >>> 0, sh, sl);
  xxh64Avalanche(rH, (rL ^ combined) >>> 0);
}

function len4to8(d: Uint8Array, o: number, len: number, sh: number, sl: number): void {
  sh = (sh ^ swap32(sl)) >>> 0;
  const in1 = r32(d, o);
  const in2 = r32(d, o + len - 4);
  const s = DEFAULT_SECRET;
  sub64((r32(s, 12) ^ r32(s, 20)) >>> 0, (r32(s, 8) ^ r32(s, 16)) >>> 0, sh, sl);
  rrmxmx((in1 ^ rH) >>> 0, (in2 ^ rL) >>> 0, len);
}

/** The 9..16-byte path, on the input's first and last u64 (which overlap when len < 16). */
function len9to16Words(loH: number, loL: number, hiH: number, hiL: number, len: number, k: SeedKeys): void {
  const ilH = (loH ^ k.bf1H) >>> 0;
  const ilL = (loL ^ k.bf1L) >>> 0;
  const ihH = (hiH ^ k.bf2H) >>> 0;
  const ihL = (hiL ^ k.bf2L) >>> 0;
  // acc = len + swap64(input_lo) + input_hi + fold(input_lo * input_hi)
  add64(swap32(ilL), swap32(ilH), 0, len);
  add64(rH, rL, ihH, ihL);
  const aH = rH;
  const aL = rL;
  mul128Fold(ilH, ilL, ihH, ihL);
  add64(aH, aL, rH, rL);
  xxh3Avalanche(rH, rL);
}

/**
 * mix16B: fold((in_lo ^ (s_lo + seed)) * (in_hi ^ (s_hi - seed))), added into (accH, accL). The seeded secret
 * words for secret offset `so` come precomputed from `mix` (see SeedKeys).
 */
function mix16(accH: number, accL: number, d: Uint8Array, o: number, mix: Uint32Array, so: number): void {
  const m = 4 * so;
  mul128Fold(
    (r32(d, o + 4) ^ (mix[m] as number)) >>> 0,
    (r32(d, o) ^ (mix[m + 1] as number)) >>> 0,
    (r32(d, o + 12) ^ (mix[m + 2] as number)) >>> 0,
    (r32(d, o + 8) ^ (mix[m + 3] as number)) >>> 0,
  );
  add64(accH, accL, rH, rL);
}

function len17to128(d: Uint8Array, o: number, len: number, k: SeedKeys): void {
  const s = k.mix;
  mul64(0, len, P64_1_H, P64_1_L);
  if (len > 32) {
    if (len > 64) {
      if (len > 96) {
        mix16(rH, rL, d, o + 48, s, 96);
        mix16(rH, rL, d, o + len - 64, s, 112);
      }
      mix16(rH, rL, d, o + 32, s, 64);
      mix16(rH, rL, d, o + len - 48, s, 80);
    }
    mix16(rH, rL, d, o + 16, s, 32);
    mix16(rH, rL, d, o + len - 32, s, 48);
  }
  mix16(rH, rL, d, o, s, 0);
  mix16(rH, rL, d, o + len - 16, s, 16);
  xxh3Avalanche(rH, rL);
}

function len129to240(d: Uint8Array, o: number, len: number, k: SeedKeys): void {
  const s = k.mix;
  const rounds = len >>> 4;
  mul64(0, len, P64_1_H, P64_1_L);
  for (let i = 0; i < 8; i++) mix16(rH, rL, d, o + 16 * i, s, 16 * i);
  xxh3Avalanche(rH, rL);
  for (let i = 8; i < rounds; i++) mix16(rH, rL, d, o + 16 * i, s, 16 * (i - 8) + MIDSIZE_STARTOFFSET);
  mix16(rH, rL, d, o + len - 16, s, SECRET_SIZE_MIN - MIDSIZE_LASTOFFSET);
  xxh3Avalanche(rH, rL);
}

// Accumulators for the long path, interleaved as [hi0, lo0, hi1, lo1, ...]. Uint32Array stores wrap mod 2^32.
const acc = new Uint32Array(16);

function accumulate512(d: Uint8Array, o: number, s: Uint8Array, so: number): void {
  for (let i = 0; i < 8; i++) {
    const dl = r32(d, o + 8 * i);
    const dh = r32(d, o + 8 * i + 4);
    const kl = (dl ^ r32(s, so + 8 * i)) >>> 0;
    const kh = (dh ^ r32(s, so + 8 * i + 4)) >>> 0;
    // acc[i ^ 1] += data
    const j = 2 * (i ^ 1);
    let lo = (acc[j + 1] as number) + dl;
    acc[j + 1] = lo;
    acc[j] = (acc[j] as number) + dh + (lo > 0xffffffff ? 1 : 0);
    // acc[i] += lo32(key) * hi32(key)
    mul32(kl, kh);
    const k = 2 * i;
    lo = (acc[k + 1] as number) + rL;
    acc[k + 1] = lo;
    acc[k] = (acc[k] as number) + rH + (lo > 0xffffffff ? 1 : 0);
  }
}

function scrambleAcc(s: Uint8Array, so: number): void {
  for (let i = 0; i < 8; i++) {
    const h = acc[2 * i] as number;
    const l = acc[2 * i + 1] as number;
    // acc ^= acc >> 47; acc ^= key; acc *= PRIME32_1
    const xl = (l ^ (h >>> 15) ^ r32(s, so + 8 * i)) >>> 0;
    const xh = (h ^ r32(s, so + 8 * i + 4)) >>> 0;
    mul64(xh, xl, 0, P32_1);
    acc[2 * i] = rH;
    acc[2 * i + 1] = rL;
  }
}

function hashLong(d: Uint8Array, o: number, len: number, s: Uint8Array): void {
  acc.set([0, P32_3, P64_1_H, P64_1_L, P64_2_H, P64_2_L, P64_3_H, P64_3_L]);
  acc.set([P64_4_H, P64_4_L, 0, P32_2, P64_5_H, P64_5_L, 0, P32_1], 8);
  const blocks = Math.floor((len - 1) / BLOCK_LEN);
  for (let n = 0; n < blocks; n++) {
    const bo = o + n * BLOCK_LEN;
    for (let st = 0; st < STRIPES_PER_BLOCK; st++) accumulate512(d, bo + st * STRIPE_LEN, s, st * 8);
    scrambleAcc(s, SECRET_SIZE - STRIPE_LEN);
  }
  const stripes = Math.floor((len - 1 - blocks * BLOCK_LEN) / STRIPE_LEN);
  const bo = o + blocks * BLOCK_LEN;
  for (let st = 0; st < stripes; st++) accumulate512(d, bo + st * STRIPE_LEN, s, st * 8);
  accumulate512(d, o + len - STRIPE_LEN, s, SECRET_SIZE - STRIPE_LEN - SECRET_LASTACC_START);
  // Merge the accumulators.
  mul64(Math.floor(len / TWO_32), len >>> 0, P64_1_H, P64_1_L);
  let mH = rH;
  let mL = rL;
  for (let i = 0; i < 4; i++) {
    const so = SECRET_MERGEACCS_START + 16 * i;
    mul128Fold(
      ((acc[4 * i] as number) ^ r32(s, so + 4)) >>> 0,
      ((acc[4 * i + 1] as number) ^ r32(s, so)) >>> 0,
      ((acc[4 * i + 2] as number) ^ r32(s, so + 12)) >>> 0,
      ((acc[4 * i + 3] as number) ^ r32(s, so + 8)) >>> 0,
    );
    add64(mH, mL, rH, rL);
    mH = rH;
    mL = rL;
  }
  xxh3Avalanche(mH, mL);
}

/**
 * Everything about a seed the hash paths need, computed once per seed: the 9..16-byte bitflips, the seeded
 * secret words mix16 uses (for every secret offset), and the secret derived for the long path.
 */
interface SeedKeys {
  sh: number;
  sl: number;
  bf1H: number;
  bf1L: number;
  bf2H: number;
  bf2L: number;
  /** At 4*so: hi, lo of (secret[so..] + seed), then hi, lo of (secret[so+8..] - seed). */
  mix: Uint32Array;
  longSecret: Uint8Array;
}

function makeKeys(sh: number, sl: number): SeedKeys {
  const ds = DEFAULT_SECRET;
  add64((r32(ds, 28) ^ r32(ds, 36)) >>> 0, (r32(ds, 24) ^ r32(ds, 32)) >>> 0, sh, sl);
  const bf1H = rH;
  const bf1L = rL;
  sub64((r32(ds, 44) ^ r32(ds, 52)) >>> 0, (r32(ds, 40) ^ r32(ds, 48)) >>> 0, sh, sl);
  const bf2H = rH;
  const bf2L = rL;
  const mix = new Uint32Array(4 * (SECRET_SIZE - 15));
  for (let so = 0; so + 16 <= SECRET_SIZE; so++) {
    add64(r32(ds, so + 4), r32(ds, so), sh, sl);
    mix[4 * so] = rH;
    mix[4 * so + 1] = rL;
    sub64(r32(ds, so + 12), r32(ds, so + 8), sh, sl);
    mix[4 * so + 2] = rH;
    mix[4 * so + 3] = rL;
  }
  // The long path's custom secret is the same seeded words at every 16-byte step (the default one for seed 0).
  let longSecret = DEFAULT_SECRET;
  if (sh !== 0 || sl !== 0) {
    longSecret = new Uint8Array(SECRET_SIZE);
    const view = new DataView(longSecret.buffer);
    for (let i = 0; i < SECRET_SIZE; i += 16) {
      view.setUint32(i, mix[4 * i + 1] as number, true);
      view.setUint32(i + 4, mix[4 * i] as number, true);
      view.setUint32(i + 8, mix[4 * i + 3] as number, true);
      view.setUint32(i + 12, mix[4 * i + 2] as number, true);
    }
  }
  return { sh, sl, bf1H, bf1L, bf2H, bf2L, mix, longSecret };
}

// Keys for the few seeds in use (KV hashing uses a handful), most recent last.
const seedKeys: SeedKeys[] = [];
const SEED_KEYS_MAX = 16;

function keysForSeed(sh: number, sl: number): SeedKeys {
  for (let i = seedKeys.length - 1; i >= 0; i--) {
    const k = seedKeys[i] as SeedKeys;
    if (k.sh === sh && k.sl === sl) return k;
  }
  const k = makeKeys(sh, sl);
  if (seedKeys.length >= SEED_KEYS_MAX) seedKeys.shift();
  seedKeys.push(k);
  return k;
}

/**
 * XXH3-64 of `data[offset, offset + length)` with the seed given as 32-bit halves. The result is left in the
 * registers read by `resultHi()`/`resultLo()`; this is the allocation-free entry point for bulk hashing.
 */
export function xxh3Words(
  data: Uint8Array,
  offset: number,
  length: number,
  seedHi: number,
  seedLo: number,
): void {
  const sh = seedHi >>> 0;
  const sl = seedLo >>> 0;
  if (length <= 16) {
    if (length > 8) {
      len9to16Words(
        r32(data, offset + 4),
        r32(data, offset),
        r32(data, offset + length - 4),
        r32(data, offset + length - 8),
        length,
        keysForSeed(sh, sl),
      );
    } else if (length >= 4) {
      len4to8(data, offset, length, sh, sl);
    } else if (length > 0) {
      len1to3(data, offset, length, sh, sl);
    } else {
      const s = DEFAULT_SECRET;
      xxh64Avalanche((sh ^ r32(s, 60) ^ r32(s, 68)) >>> 0, (sl ^ r32(s, 56) ^ r32(s, 64)) >>> 0);
    }
  } else if (length <= 128) {
    len17to128(data, offset, length, keysForSeed(sh, sl));
  } else if (length <= 240) {
    len129to240(data, offset, length, keysForSeed(sh, sl));
  } else {
    hashLong(data, offset, length, keysForSeed(sh, sl).longSecret);
  }
}

/** XXH3-64 of the 16 bytes le_u64(a) || le_u64(b), given as 32-bit halves; result in the registers. */
export function xxh3TwoWords(
  aHi: number,
  aLo: number,
  bHi: number,
  bLo: number,
  seedHi: number,
  seedLo: number,
): void {
  len9to16Words(aHi >>> 0, aLo >>> 0, bHi >>> 0, bLo >>> 0, 16, keysForSeed(seedHi >>> 0, seedLo >>> 0));
}

export function resultHi(): number {
  return rH;
}

export function resultLo(): number {
  return rL;
}
