// Token logprobs as vLLM and SGLang put them on the wire, built (the engine simulator) and read back (the worker's
// adapters) in one place so both sides agree. Sources:
//   vLLM /v1/completions: vllm/entrypoints/openai/completion/serving.py `_create_completion_logprobs` (CompletionLogProbs
//     {text_offset, token_logprobs, tokens, top_logprobs}; each position's dict holds the sampled token first, then
//     the top `logprobs` ranks, deduplicated, so n or n+1 entries; `return_tokens_as_token_ids` names tokens
//     `token_id:<id>`; -inf clamped to -9999.0).
//   vLLM /inference/v1/generate: vllm/entrypoints/serve/disagg/serving.py `_create_tokens_logprobs`
//     (ChatCompletionLogProbs {content: [{token: "token_id:<id>", logprob, bytes, top_logprobs}]}; the same dict
//     cut to its first max(logprobs, 1) entries, so the sampled token comes first there too).
//   SGLang /generate: python/sglang/srt/managers/tokenizer_manager.py `add_logprob_to_meta_info` and
//     `detokenize_logprob_tokens` (meta_info.output_token_logprobs: [logprob, token_id, text|null] per output token;
//     output_top_logprobs: per position the top `top_logprobs_num` as the same triples, only when it is above 0;
//     both cumulative in a stream, as the state they are read from accumulates).

/** One generated token's logprob and the most likely alternatives at its position, as Kvasir carries them. */
export interface WireTokenLogprob {
  tokenId: number;
  logprob: number;
  /** The most likely tokens at this position, most likely first. */
  top: { tokenId: number; logprob: number }[];
}

/** vLLM's floor for -inf, which JSON cannot carry; also what a missing logprob reads as. */
const MIN_LOGPROB = -9999.0;

const clamp = (logprob: number) => Math.max(logprob, MIN_LOGPROB);

/** A token as vLLM names it with `return_tokens_as_token_ids` (and always on /inference/v1/generate). */
export function vllmTokenIdString(tokenId: number): string {
  return `token_id:${tokenId}`;
}

/** The id in a `token_id:<id>` name; undefined for a decoded token. */
export function parseVllmTokenId(token: string): number | undefined {
  if (!token.startsWith("token_id:")) return undefined;
  const id = Number(token.slice("token_id:".length));
  return Number.isInteger(id) && id >= 0 ? id : undefined;
}

/** `logprobs` of a /v1/completions choice (CompletionLogProbs). */
export interface VllmCompletionLogprobs {
  text_offset: number[];
  token_logprobs: (number | null)[];
  tokens: string[];
  top_logprobs: (Record<string, number> | null)[];
}

/** ChatCompletionLogProb. */
export interface VllmLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
}

/** ChatCompletionLogProbsContent. */
export interface VllmLogprobContent extends VllmLogprob {
  top_logprobs: VllmLogprob[];
}

/** `logprobs` of an /inference/v1/generate choice (ChatCompletionLogProbs). */
export interface VllmTokenLogprobs {
  content: VllmLogprobContent[] | null;
}

/** A position's logprob dict in vLLM's order: the sampled token, then the top ranks not already listed. */
function sampleDict(entry: WireTokenLogprob): [number, number][] {
  const out: [number, number][] = [[entry.tokenId, entry.logprob]];
  for (const alt of entry.top) if (alt.tokenId !== entry.tokenId) out.push([alt.tokenId, alt.logprob]);
  return out;
}

/**
 * A completion choice's logprobs for `entries` (asked with `logprobs: n` and `return_tokens_as_token_ids`);
 * `initialOffset` is where this chunk's text starts (a stream's earlier chunks' text).
 */
export function vllmCompletionLogprobs(
  entries: readonly WireTokenLogprob[],
  n: number,
  initialOffset = 0,
): VllmCompletionLogprobs {
  const out: VllmCompletionLogprobs = { text_offset: [], token_logprobs: [], tokens: [], top_logprobs: [] };
  let offset = initialOffset;
  for (const entry of entries) {
    const token = vllmTokenIdString(entry.tokenId);
    out.text_offset.push(offset);
    offset += token.length;
    out.tokens.push(token);
    out.token_logprobs.push(clamp(entry.logprob));
    const dict: Record<string, number> = {};
    for (const [id, logprob] of sampleDict(entry).slice(0, n + 1))
      dict[vllmTokenIdString(id)] = clamp(logprob);
    out.top_logprobs.push(dict);
  }
  return out;
}

/** A generate choice's logprobs for `entries` (asked with `sampling_params.logprobs: n`). */
export function vllmTokenLogprobs(entries: readonly WireTokenLogprob[], n: number): VllmTokenLogprobs {
  return {
    content: entries.map((entry) => ({
      token: vllmTokenIdString(entry.tokenId),
      logprob: clamp(entry.logprob),
      bytes: null,
      top_logprobs: sampleDict(entry)
        .slice(0, Math.max(n, 1))
        .map(([id, logprob]) => ({ token: vllmTokenIdString(id), logprob: clamp(logprob), bytes: null })),
    })),
  };
}

/** The `n` most likely of a position's listed tokens (the sampled one is listed first whatever its rank). */
function mostLikely(listed: Iterable<[string, number]>, n: number): WireTokenLogprob["top"] {
  const top: WireTokenLogprob["top"] = [];
  for (const [token, logprob] of listed) {
    const tokenId = parseVllmTokenId(token);
    if (tokenId !== undefined && typeof logprob === "number") top.push({ tokenId, logprob });
  }
  return top.sort((a, b) => b.logprob - a.logprob).slice(0, n);
}

/**
 * Reads a completion choice's logprobs back, one per id of `tokenIds` (its `token_ids`); undefined when the
 * choice has none or their count does not match. `n`: the alternatives asked.
 */
export function readVllmCompletionLogprobs(
  logprobs: unknown,
  tokenIds: readonly number[],
  n: number,
): WireTokenLogprob[] | undefined {
  if (typeof logprobs !== "object" || logprobs === null || !("token_logprobs" in logprobs)) return undefined;
  const { token_logprobs: values, top_logprobs: tops } = logprobs as Partial<VllmCompletionLogprobs>;
  if (!Array.isArray(values) || values.length !== tokenIds.length) return undefined;
  return tokenIds.map((tokenId, i) => {
    const dict = tops?.[i];
    return {
      tokenId,
      logprob: values[i] ?? MIN_LOGPROB,
      top: dict ? mostLikely(Object.entries(dict), n) : [],
    };
  });
}

/** Reads a generate choice's logprobs back, as `readVllmCompletionLogprobs`. */
export function readVllmTokenLogprobs(
  logprobs: unknown,
  tokenIds: readonly number[],
  n: number,
): WireTokenLogprob[] | undefined {
  if (typeof logprobs !== "object" || logprobs === null || !("content" in logprobs)) return undefined;
  const { content } = logprobs as Partial<VllmTokenLogprobs>;
  if (!Array.isArray(content) || content.length !== tokenIds.length) return undefined;
  return tokenIds.map((tokenId, i) => {
    const entry = content[i];
    const listed = (entry?.top_logprobs ?? []).map((t): [string, number] => [t.token, t.logprob]);
    return { tokenId, logprob: entry?.logprob ?? MIN_LOGPROB, top: mostLikely(listed, n) };
  });
}

/** One of SGLang's logprob triples: the logprob, the token id, its text (null unless return_text_in_logprobs). */
export type SglangLogprobEntry = [logprob: number, tokenId: number, text: string | null];

/** The logprob fields of meta_info for a request with `return_logprob` (and `top_logprobs_num` above 0). */
export interface SglangLogprobFields {
  input_token_logprobs: SglangLogprobEntry[];
  output_token_logprobs: SglangLogprobEntry[];
  input_top_logprobs?: (SglangLogprobEntry[] | null)[];
  output_top_logprobs?: (SglangLogprobEntry[] | null)[];
}

/**
 * meta_info's logprob fields for the output so far (`entries`, cumulative as SGLang streams them). The prompt's
 * lists are empty: the simulator reports no prompt logprobs (SGLang returns them from `logprob_start_len`).
 */
export function sglangLogprobFields(entries: readonly WireTokenLogprob[], topN: number): SglangLogprobFields {
  const fields: SglangLogprobFields = {
    input_token_logprobs: [],
    output_token_logprobs: entries.map((e): SglangLogprobEntry => [e.logprob, e.tokenId, null]),
  };
  if (topN > 0) {
    fields.input_top_logprobs = [];
    fields.output_top_logprobs = entries.map((e) =>
      e.top.slice(0, topN).map((t): SglangLogprobEntry => [t.logprob, t.tokenId, null]),
    );
  }
  return fields;
}

function isTriple(value: unknown): value is SglangLogprobEntry {
  return Array.isArray(value) && typeof value[0] === "number" && typeof value[1] === "number";
}

/**
 * The logprobs of the last `tokenIds.length` output tokens from a meta_info (cumulative or incremental lists:
 * the new tokens are the lists' tail either way); undefined when it has none for them.
 */
export function readSglangLogprobs(
  meta: Record<string, unknown>,
  tokenIds: readonly number[],
): WireTokenLogprob[] | undefined {
  const values = meta.output_token_logprobs;
  if (!Array.isArray(values) || values.length < tokenIds.length) return undefined;
  const tops = Array.isArray(meta.output_top_logprobs) ? meta.output_top_logprobs : undefined;
  const from = values.length - tokenIds.length;
  return tokenIds.map((tokenId, i) => {
    const value: unknown = values[from + i];
    const listed: unknown = tops?.[from + i];
    const top = Array.isArray(listed)
      ? listed.filter(isTriple).map(([logprob, id]) => ({ tokenId: id, logprob }))
      : [];
    return { tokenId, logprob: isTriple(value) ? value[0] : MIN_LOGPROB, top };
  });
}
