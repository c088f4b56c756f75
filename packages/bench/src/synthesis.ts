// Turns a trace row into token ids: one deterministic block of TRACE_BLOCK_TOKENS ids per hash_id, concatenated
// and cut to input_length, so equal hash_ids give equal token prefixes at any engine block size dividing 512.
import { TRACE_BLOCK_TOKENS, type TraceRow } from "./trace.js";

export interface SynthesisOptions {
  /** Token ids are drawn from [0, vocabSize); keep it below the model's first special token. */
  vocabSize?: number;
}

/** Below Qwen3's first special token (151643) so synthesized prompts are valid for the served tokenizer. */
export const DEFAULT_SYNTH_VOCAB = 150_000;

/** Fills `out[offset..offset+count)` with the first `count` tokens of the block named `hashId`. */
function writeBlock(hashId: number, out: number[], count: number, vocabSize: number): void {
  // splitmix32-style generator seeded by the id: cheap, stateless across blocks, identical on every run.
  let state = (Math.imul(hashId ^ 0x5bd1e995, 0x9e3779b1) + 0x7f4a7c15) | 0;
  for (let i = 0; i < count; i++) {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    out.push((z >>> 0) % vocabSize);
  }
}

/** The first `count` (at most TRACE_BLOCK_TOKENS) token ids of the block named `hashId`. */
export function synthesizeBlock(
  hashId: number,
  count = TRACE_BLOCK_TOKENS,
  opts: SynthesisOptions = {},
): number[] {
  const out: number[] = [];
  writeBlock(hashId, out, Math.min(count, TRACE_BLOCK_TOKENS), opts.vocabSize ?? DEFAULT_SYNTH_VOCAB);
  return out;
}

/** The prompt of one trace row: its blocks' tokens concatenated, cut to input_length. */
export function synthesizePrompt(row: TraceRow, opts: SynthesisOptions = {}): number[] {
  const vocab = opts.vocabSize ?? DEFAULT_SYNTH_VOCAB;
  const out: number[] = [];
  for (const id of row.hashIds) {
    const remaining = row.inputLength - out.length;
    if (remaining <= 0) break;
    writeBlock(id, out, Math.min(remaining, TRACE_BLOCK_TOKENS), vocab);
  }
  if (out.length < row.inputLength) {
    throw new Error(
      `trace row has ${row.hashIds.length} hash_ids, too few for input_length ${row.inputLength}`,
    );
  }
  return out;
}
