// Embeddings for an embedding model's mocker: a deterministic unit vector per input, so equal inputs embed equally
// and clients can check shapes, norms and determinism without a model.
import { xxh3_64 } from "@kvasir/kv";

/** A unit vector of `dimensions` components, a pure function of the token ids. */
export function mockEmbedding(tokenIds: ArrayLike<number>, dimensions: number): number[] {
  const bytes = new Uint8Array(Uint32Array.from(Array.from(tokenIds)).buffer);
  let state = BigInt.asUintN(64, xxh3_64(bytes, 0n));
  const vector: number[] = new Array(dimensions);
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    // splitmix64: one 64-bit step per component; the top 53 bits as a uniform in [0, 1), then centred.
    state = BigInt.asUintN(64, state + 0x9e3779b97f4a7c15n);
    let z = state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    z ^= z >> 31n;
    const v = Number(z >> 11n) / 2 ** 53 - 0.5;
    vector[i] = v;
    norm += v * v;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < dimensions; i++) vector[i] = (vector[i] as number) * scale;
  return vector;
}
