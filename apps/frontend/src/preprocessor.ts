import {
  ChatTemplate,
  ChatTemplateError,
  type ChatTemplateInput,
  defaultModelDir,
  defaultModelSource,
  loadTokenizer,
  type Tokenizer,
} from "@kvasir/llm";
import type { ModelDeploymentCard } from "@kvasir/protocol";
import { badRequest } from "./errors.js";

/** A model's tokenizer and chat template, shared by every request for models in the same directory. */
export interface Preprocessor {
  tokenizer: Tokenizer;
  chatTemplate: ChatTemplate | undefined;
}

/** Loads the tokenizer of `dir` (the bundled Qwen3 one gets its generation config supplied). */
export async function loadPreprocessor(dir: string, card: ModelDeploymentCard): Promise<Preprocessor> {
  const tokenizer = await loadTokenizer(dir === defaultModelDir() ? defaultModelSource() : dir);
  const source = card.chatTemplate ?? tokenizer.chatTemplate;
  return {
    tokenizer,
    chatTemplate: source === undefined ? undefined : new ChatTemplate(source, tokenizer.specialTokens),
  };
}

/** Renders the chat prompt; a model without a template serves only /v1/completions. */
export function renderChat(pre: Preprocessor, input: ChatTemplateInput): string {
  if (!pre.chatTemplate) throw badRequest("This model has no chat template; use /v1/completions.");
  try {
    return pre.chatTemplate.render(input);
  } catch (error) {
    if (error instanceof ChatTemplateError) throw badRequest(error.message, "messages");
    throw error;
  }
}
