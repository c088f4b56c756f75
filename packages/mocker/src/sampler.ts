// Deterministic output token ids: a pure function of (seed, output position), so a preempted and recomputed
// request, or a replay with the same seed, yields the same ids.
//
// Each position has a small distribution the sampler can report (for logprobs): CANDIDATES token ids drawn from the
// seed, the k-th with raw logit -k (so the most likely has about 63% of the mass). Temperature scales the logits
// before sampling, as an engine does; reported logprobs are the raw ones, as vLLM reports by default.
import { xxh3_64 } from "@kvasir/kv";

const utf8 = new TextEncoder();

/** Tokens of each position's distribution: as many as OpenAI's largest top_logprobs. */
export const CANDIDATES = 20;

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

/** log p of the k-th candidate under logits -k/temperature. */
function logDistribution(temperature: number): Float64Array {
  const logits = Float64Array.from({ length: CANDIDATES }, (_, k) => -k / temperature);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l);
  const logSum = Math.log(sum);
  return logits.map((l) => l - logSum);
}

/** Raw (temperature 1) log probabilities of the candidates, what logprobs report. */
const RAW_LOGPROBS = logDistribution(1);

/** A sampled token: its id and its candidate rank at that position (0 = most likely). */
export interface Sampled {
  id: number;
  rank: number;
}

/** A token's log probability and the most likely tokens at its position, most likely first. */
export interface TokenLogprob {
  logprob: number;
  top: { tokenId: number; logprob: number }[];
}

export class TokenSampler {
  private readonly hi: number;
  private readonly lo: number;
  /** Cumulative probabilities of the temperature-scaled distribution; undefined for greedy (temperature 0). */
  private readonly cumulative: Float64Array | undefined;

  constructor(
    seed: bigint,
    private readonly min: number,
    private readonly max: number,
    temperature = 1,
  ) {
    this.hi = Number(seed >> 32n) >>> 0;
    this.lo = Number(seed & 0xffffffffn) >>> 0;
    if (temperature > 0) {
      const scaled = logDistribution(temperature);
      let acc = 0;
      this.cumulative = scaled.map((lp) => {
        acc += Math.exp(lp);
        return acc;
      });
    }
  }

  private hash(position: number, salt: number): number {
    return fmix32(this.lo ^ fmix32(this.hi + Math.imul(position, 0x9e3779b9) + Math.imul(salt, 0x27d4eb2f)));
  }

  /** The k-th candidate token id at `position`. */
  candidate(position: number, k: number): number {
    // span <= 2^32, and h / 2^32 < 1: an unbiased-enough pick without 64-bit maths.
    return this.min + Math.floor((this.hash(position, k) / 2 ** 32) * (this.max - this.min));
  }

  /** A uniform draw in [0, 1) for `position`, independent of its candidates. */
  uniform(position: number, salt = 0): number {
    return this.hash(position, 0x10000 + salt) / 2 ** 32;
  }

  /** The token at output `position`, avoiding `banned` ids (EOS, or stop ids before min_tokens) as a masked sampler would. */
  pick(position: number, banned: (id: number) => boolean): Sampled {
    let rank = 0;
    const cumulative = this.cumulative;
    if (cumulative) {
      const u = this.uniform(position) * (cumulative[CANDIDATES - 1] ?? 1);
      while (rank < CANDIDATES - 1 && (cumulative[rank] ?? 1) <= u) rank++;
    }
    for (let k = rank; k < CANDIDATES; k++) {
      const id = this.candidate(position, k);
      if (!banned(id)) return { id, rank: k };
    }
    // The banned ids crowd the range; scan from a drawn start for the first allowed id.
    const span = this.max - this.min;
    const start = this.candidate(position, CANDIDATES) - this.min;
    for (let k = 0; k < span; k++) {
      const id = this.min + ((start + k) % span);
      if (!banned(id)) return { id, rank: CANDIDATES - 1 };
    }
    return { id: this.candidate(position, 0), rank: 0 };
  }

  sample(position: number, banned: (id: number) => boolean): number {
    return this.pick(position, banned).id;
  }

  /**
   * The logprob of the token of rank `rank` at `position` and the `top` most likely tokens there. A token that is
   * not one of the candidates (EOS, a guided-decoding token) takes the rank's place in the list.
   */
  logprobs(position: number, token: Sampled, top: number): TokenLogprob {
    const n = Math.min(top, CANDIDATES);
    const list: TokenLogprob["top"] = [];
    for (let k = 0; k < n; k++) {
      const tokenId = k === token.rank ? token.id : this.candidate(position, k);
      list.push({ tokenId, logprob: RAW_LOGPROBS[k] ?? -Infinity });
    }
    return { logprob: RAW_LOGPROBS[Math.min(token.rank, CANDIDATES - 1)] ?? -Infinity, top: list };
  }
}
