// What the mocker needs of its model's text side: the EOS ids that end its replies, and for guided decoding a
// tokenizer to turn the JSON it picks into token ids. The EOS ids come from the small config files at start; the
// tokenizer (about half a second to load) only on the first guided request, so workers start as fast as before.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { defaultModelDir, defaultModelSource, loadTokenizer, type Tokenizer } from "@kvasir/llm";

export interface ModelText {
  /** generation_config.json's (else config.json's) eos_token_id; empty when neither names one. */
  readonly eosTokenIds: readonly number[];
  /** The model's tokenizer (what guided decoding needs of it), loaded once on first use. */
  tokenizer(): Promise<Pick<Tokenizer, "encode">>;
}

function idsOf(value: unknown): number[] {
  if (Number.isInteger(value)) return [value as number];
  if (Array.isArray(value)) return value.filter((v): v is number => Number.isInteger(v));
  return [];
}

async function eosOfFile(path: string): Promise<number[]> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, "utf8"));
    return typeof parsed === "object" && parsed !== null && "eos_token_id" in parsed
      ? idsOf(parsed.eos_token_id)
      : [];
  } catch {
    return [];
  }
}

/** The text side of the model in `dir` (the bundled Qwen3 tokenizer gets its generation config supplied). */
export async function openModelText(dir: string): Promise<ModelText> {
  const bundled = dir === defaultModelDir();
  const source = bundled ? defaultModelSource() : dir;
  const fromFiles = async () => {
    const generation = await eosOfFile(join(dir, "generation_config.json"));
    return generation.length > 0 ? generation : eosOfFile(join(dir, "config.json"));
  };
  const eosTokenIds = bundled
    ? idsOf(defaultModelSource().generationConfig?.eos_token_id)
    : await fromFiles();
  let loading: Promise<Tokenizer> | undefined;
  return {
    eosTokenIds,
    tokenizer() {
      loading ??= loadTokenizer(source);
      // A failed load is tried again by the next guided request.
      loading.catch(() => {
        loading = undefined;
      });
      return loading;
    },
  };
}
