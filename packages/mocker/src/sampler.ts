// Deterministic output token ids: a pure function of (seed, output position), so a preempted and recomputed
// request, or a replay with the same seed, yields the same ids.
import { xxh3_64 } from "@kvasir/kv";

const utf8 = new TextEncoder();

/** murmur3's 32-bit finalizer: a cheap, well-mixed bijection on u32. */
function fmix32(h: number): number {
  let x = h >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The 64-bit seed of a request: its own seed when given, else XXH3-64 of its id under the engine seed. */
export function requestSeed(
  requestId: string,
  requestSeedValue: number | bigint | undefined,
  engineSeed: number,
) {
  if (requestSeedValue !== undefined) return BigInt.asUintN(64, BigInt(requestSeedValue));
  return xxh3_64(utf8.encode(requestId), BigInt.asUintN(64, BigInt(engineSeed)));
}

export class TokenSampler {
  private readonly hi: number;
  private readonly lo: number;

  constructor(
    seed: bigint,
    private readonly min: number,
    private readonly max: number,
  ) {
    this.hi = Number(seed >> 32n) >>> 0;
    this.lo = Number(seed & 0xffffffffn) >>> 0;
  }

  private draw(position: number, attempt: number): number {
    const h = fmix32(
      this.lo ^ fmix32(this.hi + Math.imul(position, 0x9e3779b9) + Math.imul(attempt, 0x27d4eb2f)),
    );
    // span <= 2^32, and h / 2^32 < 1: an unbiased-enough pick without 64-bit maths.
    return this.min + Math.floor((h / 2 ** 32) * (this.max - this.min));
  }

  /** Token at output `position`, avoiding `banned` ids (EOS, or stop ids before min_tokens) as a masked sampler would. */
  sample(position: number, banned: (id: number) => boolean): number {
    for (let attempt = 0; attempt < 8; attempt++) {
      const id = this.draw(position, attempt);
      if (!banned(id)) return id;
    }
    // The banned ids crowd the range; scan from a drawn start for the first allowed id.
    const span = this.max - this.min;
    const start = this.draw(position, 8) - this.min;
    for (let k = 0; k < span; k++) {
      const id = this.min + ((start + k) % span);
      if (!banned(id)) return id;
    }
    return this.draw(position, 0);
  }
}
