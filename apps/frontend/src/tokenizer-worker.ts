// A tokenizer thread of the frontend's pool (piscina): renders chat templates and tokenizes large prompts off
// the event loop. Each thread loads a model's tokenizer once and keeps it.
import {
  ChatTemplate,
  type ChatTemplateInput,
  loadTokenizer,
  type ModelSource,
  type Tokenizer,
} from "@kvasir/llm";
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
  contextLength: number;
  /** `maxTokenBytes` of this tokenizer, known to the main thread; the refusal bound. */
  longestToken: number;
}

export type TokenizeResult =
  | { kind: "tokens"; prompt?: string; tokenIds: Uint32Array }
  | { kind: "too_long"; leastTokens: number }
  | { kind: "template_error"; message: string };

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
  const least = minimumTokens(text, task.longestToken);
  if (least >= task.contextLength) return { kind: "too_long", leastTokens: least };
  const tokenIds = Uint32Array.from(tokenizer.encode(text, { addSpecialTokens: !task.chat }));
  return task.chat ? { kind: "tokens", prompt: text, tokenIds } : { kind: "tokens", tokenIds };
}
