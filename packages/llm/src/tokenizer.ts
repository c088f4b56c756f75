import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { isRecord } from "./json.js";

/** The parsed files of a Hugging Face model directory (see model-loader.ts). */
export interface ModelFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  config?: Record<string, unknown>;
  /** Contents of chat_template.jinja; overrides tokenizer_config.chat_template. */
  chatTemplate?: string;
}

/** Special-token strings a chat template may reference (`bos_token`, `eos_token`, ...). */
export interface SpecialTokenStrings {
  bos_token?: string;
  eos_token?: string;
  pad_token?: string;
  unk_token?: string;
}

export interface EncodeOptions {
  /** Apply the tokenizer's post-processor (e.g. BOS). Default true, as in Hugging Face; rendered chat prompts already carry them. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop tokens marked `special` in tokenizer.json. Default true. */
  skipSpecialTokens?: boolean;
}

export interface Tokenizer {
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: readonly number[], opts?: DecodeOptions): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** Vocabulary size including added tokens. */
  readonly vocabSize: number;
  /** Ids that end generation: generation_config (or config) eos_token_id, then the tokenizer's eos_token. */
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId: number | undefined;
  /** Ids of added tokens marked special. */
  readonly specialTokenIds: ReadonlySet<number>;
  readonly specialTokens: SpecialTokenStrings;
  /** The default chat template, if the model has one. */
  readonly chatTemplate: string | undefined;
  /** Maximum sequence length from config.json, else tokenizer_config.model_max_length when it is a real limit. */
  readonly contextLength: number | undefined;
}

// tokenizer_config.json uses a huge sentinel (1e30) for "no limit".
const MODEL_MAX_LENGTH_SENTINEL = 1e12;

export function createTokenizer(files: ModelFiles): Tokenizer {
  const hf = new HfTokenizer(files.tokenizerJson, files.tokenizerConfig);
  const tc = files.tokenizerConfig;
  const specialTokens: SpecialTokenStrings = {};
  for (const key of ["bos_token", "eos_token", "pad_token", "unk_token"] as const) {
    const value = tokenString(tc[key]);
    if (value !== undefined) specialTokens[key] = value;
  }
  const specialTokenIds = new Set<number>();
  for (const [id, token] of hf.get_added_tokens_decoder()) if (token.special) specialTokenIds.add(id);

  const idOf = (token: string | undefined) => (token === undefined ? undefined : hf.token_to_id(token));
  const eosTokenIds = unique([
    ...tokenIds((files.generationConfig ?? files.config)?.eos_token_id),
    ...tokenIds(idOf(specialTokens.eos_token)),
  ]);
  const bosTokenId = tokenIds(files.generationConfig?.bos_token_id)[0] ?? idOf(specialTokens.bos_token);

  return {
    encode: (text, opts) => hf.encode(text, { add_special_tokens: opts?.addSpecialTokens ?? true }).ids,
    // The library refuses an empty id list; an empty sequence decodes to "".
    decode: (ids, opts) =>
      ids.length === 0
        ? ""
        : hf.decode(ids as number[], {
            skip_special_tokens: opts?.skipSpecialTokens ?? true,
            clean_up_tokenization_spaces: tc.clean_up_tokenization_spaces === true,
          }),
    tokenToId: (token) => hf.token_to_id(token),
    idToToken: (id) => hf.id_to_token(id),
    vocabSize: hf.get_vocab(true).size,
    eosTokenIds,
    bosTokenId,
    specialTokenIds,
    specialTokens,
    chatTemplate: files.chatTemplate ?? defaultChatTemplate(tc.chat_template),
    contextLength: contextLength(files.config, tc.model_max_length),
  };
}

function tokenString(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (isRecord(value) && typeof value.content === "string") return value.content;
  return undefined;
}

function tokenIds(value: unknown): number[] {
  if (Number.isInteger(value)) return [value as number];
  if (Array.isArray(value)) return value.filter((v): v is number => Number.isInteger(v));
  return [];
}

function unique(ids: number[]): number[] {
  return [...new Set(ids)];
}

// chat_template is either a string or a list of named templates, of which "default" is the one to use.
function defaultChatTemplate(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (!Array.isArray(value)) return undefined;
  for (const entry of value) {
    if (isRecord(entry) && entry.name === "default" && typeof entry.template === "string")
      return entry.template;
  }
  return undefined;
}

function contextLength(
  config: Record<string, unknown> | undefined,
  modelMaxLength: unknown,
): number | undefined {
  const keys = ["max_position_embeddings", "max_sequence_length", "seq_length", "n_positions"];
  // Multimodal configs nest the language model's settings under text_config.
  for (const cfg of [config, config?.text_config]) {
    if (!isRecord(cfg)) continue;
    for (const key of keys) {
      const value = cfg[key];
      if (Number.isInteger(value) && (value as number) > 0) return value as number;
    }
  }
  if (Number.isInteger(modelMaxLength) && (modelMaxLength as number) < MODEL_MAX_LENGTH_SENTINEL) {
    return modelMaxLength as number;
  }
  return undefined;
}
