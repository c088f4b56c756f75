// OpenAI's logprobs shapes from the engine's per-token logprobs. Chat: `{content: [{token, logprob, bytes,
// top_logprobs: [{token, logprob, bytes}]}], refusal: null}`. Legacy completions: `{tokens, token_logprobs,
// top_logprobs: [{token: logprob}], text_offset}`. A token's text is its own decoding, as vLLM reports it.
import type { Tokenizer } from "@kvasir/llm";
import type { TokenLogprob } from "@kvasir/serving";

const utf8 = new TextEncoder();

export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

/** Renders one choice's token logprobs; `hidden` ids (EOS, stop tokens not shown as text) are left out. */
export class LogprobRenderer {
  private readonly texts = new Map<number, string>();
  /** Where the next token starts in the choice's text (legacy completions' text_offset). */
  private offset: number;

  constructor(
    private readonly tokenizer: Pick<Tokenizer, "decode">,
    private readonly hidden: (id: number) => boolean,
    startOffset = 0,
  ) {
    this.offset = startOffset;
  }

  private text(id: number): string {
    let text = this.texts.get(id);
    if (text === undefined) {
      text = this.tokenizer.decode([id], { skipSpecialTokens: false });
      this.texts.set(id, text);
    }
    return text;
  }

  private entries(tokenIds: readonly number[], logprobs: readonly TokenLogprob[] | undefined) {
    const out: { id: number; entry: TokenLogprob }[] = [];
    if (!logprobs) return out;
    tokenIds.forEach((id, i) => {
      const entry = logprobs[i];
      if (entry && !this.hidden(id)) out.push({ id, entry });
    });
    return out;
  }

  chat(tokenIds: readonly number[], logprobs: readonly TokenLogprob[] | undefined): ChatTokenLogprob[] {
    return this.entries(tokenIds, logprobs).map(({ id, entry }) => {
      const token = this.text(id);
      return {
        token,
        logprob: entry.logprob,
        bytes: [...utf8.encode(token)],
        top_logprobs: entry.top.map((t) => {
          const text = this.text(t.tokenId);
          return { token: text, logprob: t.logprob, bytes: [...utf8.encode(text)] };
        }),
      };
    });
  }

  completion(tokenIds: readonly number[], logprobs: readonly TokenLogprob[] | undefined): CompletionLogprobs {
    const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    for (const { id, entry } of this.entries(tokenIds, logprobs)) {
      const token = this.text(id);
      out.tokens.push(token);
      out.token_logprobs.push(entry.logprob);
      // The sampled token is always listed, as OpenAI and vLLM list it.
      const top: Record<string, number> = { [token]: entry.logprob };
      for (const t of entry.top) top[this.text(t.tokenId)] ??= t.logprob;
      out.top_logprobs.push(top);
      out.text_offset.push(this.offset);
      this.offset += token.length;
    }
    return out;
  }
}

/** Concatenates completion logprobs (a non-streamed answer's steps). */
export function joinCompletionLogprobs(parts: readonly CompletionLogprobs[]): CompletionLogprobs {
  return {
    tokens: parts.flatMap((p) => p.tokens),
    token_logprobs: parts.flatMap((p) => p.token_logprobs),
    top_logprobs: parts.flatMap((p) => p.top_logprobs),
    text_offset: parts.flatMap((p) => p.text_offset),
  };
}
