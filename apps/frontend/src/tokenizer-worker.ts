// A tokenizer thread of the frontend's pool (piscina): renders chat templates and tokenizes large prompts off
// the event loop. Each thread loads a model's tokenizer once and keeps it.
import {
  ChatTemplate,
  type ChatTemplateInput,
  loadTokenizer,
  type ModelSource,
  type Tokenizer,
} from "@kvasir/llm";
import { continueFinalMessage } from "./anthropic/prefill.js";
import { minimumTokens } from "./prompt-size.js";

/** Where a thread loads the tokenizer and template from (the same as the main thread's preprocessor). */
export interface TokenizerSource {
  model: string | ModelSource;
  /** The card's template, overriding the tokenizer's. */
  chatTemplate?: string;
}

export interface TokenizeTask {
  source: TokenizerSource;
  /** A chat to render, or text as it is. */
  chat?: ChatTemplateInput;
  text?: string;
  /** The refusal bound: text that cannot fit is refused untokenized (Infinity: never, as /v1/tokenize). */
  contextLength: number;
  /** `maxTokenBytes` of this tokenizer, known to the main thread; the refusal bound. */
  longestToken: number;
  /** The chat's final assistant text, continued (a prefill): the rendered chat is cut right after it. */
  continueFinal?: string;
  /** Add the tokenizer's special tokens; default: for text, not for a rendered chat (its template adds them). */
  addSpecialTokens?: boolean;
  /** Also each token's vocabulary string (vLLM's `token_strs`). */
  tokenStrs?: boolean;
}

export type TokenizeResult =
  | { kind: "tokens"; prompt?: string; tokenIds: Uint32Array; tokenStrs?: string[] }
  | { kind: "too_long"; leastTokens: number }
  | { kind: "template_error"; message: string }
  | { kind: "not_continuable" };

/** Token ids to text, on a thread (`/v1/detokenize` of a long list). */
export interface DetokenizeTask {
  source: TokenizerSource;
  tokenIds: Uint32Array;
  skipSpecialTokens: boolean;
}

interface Loaded {
  tokenizer: Tokenizer;
  template: ChatTemplate | undefined;
}

const loaded = new Map<string, Promise<Loaded>>();

function load(source: TokenizerSource): Promise<Loaded> {
  const key = JSON.stringify(source);
  let entry = loaded.get(key);
  if (!entry) {
    entry = loadTokenizer(source.model).then((tokenizer) => {
      const template = source.chatTemplate ?? tokenizer.chatTemplate;
      return {
        tokenizer,
        template: template === undefined ? undefined : new ChatTemplate(template, tokenizer.specialTokens),
      };
    });
    loaded.set(key, entry);
  }
  return entry;
}

export default async function tokenize(task: TokenizeTask): Promise<TokenizeResult> {
  const { tokenizer, template } = await load(task.source);
  let text = task.text ?? "";
  if (task.chat) {
    if (!template) return { kind: "template_error", message: "This model has no chat template." };
    try {
      text = template.render(task.chat);
    } catch (error) {
      return { kind: "template_error", message: error instanceof Error ? error.message : String(error) };
    }
  }
  if (task.chat && task.continueFinal !== undefined) {
    const cut = continueFinalMessage(text, task.continueFinal);
    if (cut === undefined) return { kind: "not_continuable" };
    text = cut;
  }
  const least = minimumTokens(text, task.longestToken);
  if (least >= task.contextLength) return { kind: "too_long", leastTokens: least };
  const ids = tokenizer.encode(text, { addSpecialTokens: task.addSpecialTokens ?? !task.chat });
  const tokenIds = Uint32Array.from(ids);
  const result: TokenizeResult = { kind: "tokens", tokenIds };
  if (task.chat) result.prompt = text;
  if (task.tokenStrs) result.tokenStrs = ids.map((id) => tokenizer.idToToken(id) ?? "");
  return result;
}

export async function detokenize(task: DetokenizeTask): Promise<string> {
  const { tokenizer } = await load(task.source);
  return tokenizer.decode(Array.from(task.tokenIds), { skipSpecialTokens: task.skipSpecialTokens });
}
