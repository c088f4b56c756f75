import type { Detokenizer } from "@kvasir/llm";
import type { EngineFinish, EngineOutput, EngineUsage, RouteDecision, TokenLogprob } from "@kvasir/serving";

/** One step of generated text; `finishReason` is set on the last. */
export interface TextStep {
  text: string;
  tokenCount: number;
  /** The step's token ids, and their logprobs when the request asked (OpenAI's logprobs). */
  tokenIds: readonly number[];
  logprobs?: TokenLogprob[];
  finishReason?: EngineFinish;
  /** The stop string that ended the output, if one did. */
  stopString?: string;
  usage: EngineUsage;
  /** The worker that produced the step (the last one, after a migration). */
  worker?: RouteDecision;
  /** The worker that prefilled the prompt, when it was another (disaggregated serving). */
  prefillWorker?: RouteDecision;
}

/**
 * Reads the worker's token stream as text: incremental detokenization, stop strings, stop tokens and
 * max_tokens; `onTokens` hears of every token arrival (metrics). A plain reader rather than another async
 * generator, as it runs once per token. `close()` (always called) cancels the worker's stream when the text
 * ended first (a stop string matched).
 */
export class TextReader {
  private finished = false;

  constructor(
    private readonly outputs: AsyncGenerator<EngineOutput>,
    private readonly detokenizer: Detokenizer,
    private readonly onTokens?: (count: number) => void,
  ) {}

  /** The next step; undefined once the last step (the one with a finish reason) was read. */
  async next(): Promise<TextStep | undefined> {
    if (this.finished) return undefined;
    const result = await this.outputs.next();
    if (result.done) {
      this.finished = true;
      return undefined;
    }
    const output = result.value;
    const tokenCount = output.tokenIds.length;
    const tokens = output.logprobs
      ? { tokenIds: output.tokenIds, logprobs: output.logprobs }
      : { tokenIds: output.tokenIds };
    if (tokenCount > 0) this.onTokens?.(tokenCount);
    const step = this.detokenizer.push(output.tokenIds);
    if (step.finishReason) {
      this.finished = true;
      const usage = { ...output.usage, completionTokens: this.detokenizer.tokenCount };
      const last: TextStep = {
        text: step.text,
        tokenCount,
        ...tokens,
        finishReason: step.finishReason,
        usage,
        worker: output.worker,
        ...(output.prefillWorker ? { prefillWorker: output.prefillWorker } : {}),
      };
      if (typeof step.stopReason === "string") last.stopString = step.stopReason;
      return last;
    }
    if (output.finishReason) {
      this.finished = true;
      const text = step.text + this.detokenizer.flush().text;
      return {
        text,
        tokenCount,
        ...tokens,
        finishReason: output.finishReason,
        usage: output.usage,
        worker: output.worker,
        ...(output.prefillWorker ? { prefillWorker: output.prefillWorker } : {}),
      };
    }
    return { text: step.text, tokenCount, ...tokens, usage: output.usage };
  }

  async close(): Promise<void> {
    this.finished = true;
    await this.outputs.return(undefined);
  }
}

const TURN = Symbol("event loop turn");

/**
 * Waits for the next step, then also takes every further step that is ready before the event loop turns.
 * Under load a stream's tokens queue up while the frontend is busy; sending them in one write rather than one
 * write each saves a syscall per token, and when idle nothing waits longer than one turn.
 */
export class StepBatcher {
  private pending: Promise<TextStep | undefined> | undefined;

  constructor(private readonly reader: Pick<TextReader, "next">) {}

  /** The next steps, oldest first; empty once the reader is done. */
  async next(): Promise<TextStep[]> {
    const first = await (this.pending ?? this.reader.next());
    this.pending = undefined;
    if (!first) return [];
    const steps = [first];
    if (first.finishReason) return steps;
    const turn = new Promise<typeof TURN>((resolve) => setImmediate(resolve, TURN));
    for (;;) {
      const next = this.reader.next();
      const ready = await Promise.race([next, turn]);
      if (ready === TURN) {
        // Kept for the next call; a failure is seen there (the no-op handler only keeps it from being unhandled).
        next.catch(() => {});
        this.pending = next;
        return steps;
      }
      if (!ready) return steps;
      steps.push(ready);
      if (ready.finishReason) return steps;
    }
  }
}
