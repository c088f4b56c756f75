import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import type { DetokenizeTask, TokenizeResult, TokenizeTask } from "./tokenizer-worker.js";

/**
 * Prompts with more characters than this are rendered and tokenized on a pool thread; smaller ones inline, where
 * they cost a few milliseconds (about 0.4 ms per thousand characters with Qwen3's tokenizer) and a thread hop
 * would cost more than it saves.
 */
export const OFFLOAD_CHARS = 16 * 1024;

/** Token ids decoded on a pool thread above this many: about as many characters as `OFFLOAD_CHARS` (Qwen3's English averages 4 per token). */
export const OFFLOAD_TOKENS = OFFLOAD_CHARS / 4;

export interface TokenizerPoolOptions {
  /** Threads at most; default: this process's share of the cores less one for the event loop, at least one. */
  threads?: number;
  /** Frontend processes sharing the host (`--num-processes`), for the default thread count. */
  processes?: number;
}

/** Worker threads that tokenize large prompts so the event loop keeps serving streams and /health. */
export class TokenizerPool {
  readonly #pool: Piscina<TokenizeTask | DetokenizeTask, TokenizeResult | string>;

  constructor(opts: TokenizerPoolOptions = {}) {
    const share = Math.floor(availableParallelism() / Math.max(1, opts.processes ?? 1));
    const threads = opts.threads ?? Math.max(1, share - 1);
    const filename = workerFile();
    this.#pool = new Piscina({
      filename,
      // Threads start on the first large prompt and leave after a minute idle, taking their tokenizer's memory.
      minThreads: 0,
      maxThreads: threads,
      idleTimeout: 60_000,
      ...(filename.endsWith(".ts") ? { execArgv: withTsLoader(process.execArgv) } : {}),
    });
  }

  /** Tasks running or queued. */
  get pending(): number {
    return this.#pool.queueSize + this.#running;
  }

  #running = 0;

  /** Tasks finished since the pool started (also failed and aborted ones). */
  get completed(): number {
    return this.#pool.completed;
  }

  /** Runs `task` on a thread; aborting `signal` stops the thread working on it. */
  async run(task: TokenizeTask, signal?: AbortSignal): Promise<TokenizeResult> {
    const result = await this.#run(task, "default", signal);
    if (typeof result === "string")
      throw new Error("the tokenizer thread answered a tokenize task with text");
    return result;
  }

  /** Decodes token ids on a thread. */
  async detokenize(task: DetokenizeTask, signal?: AbortSignal): Promise<string> {
    const result = await this.#run(task, "detokenize", signal);
    if (typeof result !== "string")
      throw new Error("the tokenizer thread answered a detokenize task with tokens");
    return result;
  }

  async #run(task: TokenizeTask | DetokenizeTask, name: string, signal?: AbortSignal) {
    this.#running++;
    try {
      return await this.#pool.run(task, { name, ...(signal ? { signal } : {}) });
    } finally {
      this.#running--;
    }
  }

  close(): Promise<void> {
    return this.#pool.destroy();
  }
}

// The worker is TypeScript when the frontend runs from source: its thread needs the same loader (tsx) as this one.
function workerFile(): string {
  const ts = fileURLToPath(new URL("./tokenizer-worker.ts", import.meta.url));
  return import.meta.url.endsWith(".ts") ? ts : ts.replace(/\.ts$/, ".js");
}

function withTsLoader(execArgv: readonly string[]): string[] {
  if (execArgv.some((arg) => arg.includes("tsx"))) return [...execArgv];
  return [...execArgv, "--import", createRequire(import.meta.url).resolve("tsx")];
}
