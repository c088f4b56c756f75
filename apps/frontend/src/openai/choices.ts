// Requests with several choices: `n > 1` and lists of prompts on /v1/completions. Each choice is its own engine
// request (as vLLM runs n sequences), streamed interleaved as its tokens come, each chunk naming its choice's index;
// a non-streamed answer lists every choice. Usage counts each prompt once and every choice's completion tokens.

import { Detokenizer } from "@kvasir/llm";
import { AsyncQueue } from "@kvasir/runtime";
import { type EngineUsage, servingContext } from "@kvasir/serving";
import type { HttpError } from "../errors.js";
import type { Preprocessor } from "../preprocessor.js";
import { errorTypeOf, type RequestMetrics, type RequestOutcome } from "../request-metrics.js";
import type { RequestScope } from "../request-scope.js";
import { DONE, sseResponse } from "../sse.js";
import { StepBatcher, TextReader, type TextStep } from "../text-generation.js";
import {
  clientError,
  Deadline,
  emptyUsage,
  type GenerationDeps,
  type OutputFormat,
  servingRequestOf,
} from "./generation.js";
import type { PreparedRequest } from "./prepare.js";
import { toUsage } from "./responses.js";

/** One choice: its request, how its chunks are written, and which prompt it answers (usage counts each once). */
export interface Choice {
  req: PreparedRequest;
  format: OutputFormat;
  prompt: number;
}

/** Combines the choices' non-streamed answers (each with one choice) into one body with the request's usage. */
export type MergeChoices = (bodies: unknown[], usage: EngineUsage) => unknown;

/** What reads a choice's steps: the worker's stream, or nothing for max_tokens 0 (a prompt echoed, no tokens). */
interface StepSource {
  next(): Promise<TextStep | undefined>;
  close(): Promise<void>;
}

class NoTokens implements StepSource {
  private done = false;

  constructor(private readonly promptTokens: number) {}

  async next(): Promise<TextStep | undefined> {
    if (this.done) return undefined;
    this.done = true;
    return {
      text: "",
      tokenCount: 0,
      tokenIds: [],
      finishReason: "length",
      usage: emptyUsage(this.promptTokens),
    };
  }

  async close(): Promise<void> {
    this.done = true;
  }
}

/** The request's usage: each prompt's tokens once, every choice's completion tokens. */
function totalUsage(choices: readonly Choice[], usages: readonly EngineUsage[]): EngineUsage {
  const prompts = new Map<number, EngineUsage>();
  let completionTokens = 0;
  usages.forEach((usage, i) => {
    const prompt = choices[i]?.prompt ?? i;
    if (!prompts.has(prompt)) prompts.set(prompt, usage);
    completionTokens += usage.completionTokens;
  });
  let promptTokens = 0;
  let cachedTokens = 0;
  for (const usage of prompts.values()) {
    promptTokens += usage.promptTokens;
    cachedTokens += usage.cachedTokens;
  }
  return { promptTokens, completionTokens, cachedTokens };
}

/** Runs every choice on the workers and answers them together (see respond() for the single-choice path). */
export async function respondChoices(
  deps: GenerationDeps,
  pre: Preprocessor,
  choices: readonly Choice[],
  merge: MergeChoices,
  scope: RequestScope,
  metrics: RequestMetrics,
  headers: Record<string, string>,
): Promise<Response> {
  const deadline = new Deadline(scope.signal, deps.requestTimeoutSeconds * 1000);
  const context = servingContext(deadline.signal, {
    trace: scope.trace,
    onStage: (stage, phase) => metrics.stage(stage, phase),
    ...(deps.onMove ? { onMove: deps.onMove } : {}),
  });
  const sources: StepSource[] = choices.map(({ req }, i) => {
    if (req.params.maxTokens === 0) return new NoTokens(req.tokenIds.length);
    const requestId = choices.length > 1 ? `${scope.requestId}-${i}` : scope.requestId;
    const outputs = deps.generate(servingRequestOf(req, requestId), context);
    return new TextReader(outputs, new Detokenizer(pre.tokenizer, req.detokenizer), (n) => metrics.tokens(n));
  });
  const usages = choices.map(({ req }) => emptyUsage(req.tokenIds.length));
  const closeAll = () => Promise.all(sources.map((s) => s.close()));
  const fail = (error: unknown): HttpError => {
    const failure = clientError(error, deadline, scope, deps.requestTimeoutSeconds);
    metrics.finish({ status: "error", errorType: errorTypeOf(failure) });
    return failure;
  };

  if (!choices.some(({ req }) => req.stream)) {
    let bodies: unknown[];
    try {
      bodies = await Promise.all(
        sources.map(async (source, i) => {
          let text = "";
          let last: TextStep | undefined;
          for (let step = await source.next(); step; step = await source.next()) {
            text += step.text;
            choices[i]?.format.collect?.(step);
            last = step;
          }
          const final = last ?? { text: "", tokenCount: 0, tokenIds: [], usage: usages[i] ?? emptyUsage(0) };
          usages[i] = final.usage;
          return choices[i]?.format.complete(text, final);
        }),
      );
    } catch (error) {
      throw fail(error);
    } finally {
      deadline.clear();
      await closeAll();
    }
    const usage = totalUsage(choices, usages);
    metrics.finish({ status: "success" }, usage);
    return Response.json(merge(bodies, usage), { headers });
  }

  // Each choice's steps arrive on one queue, so the stream writes them in the order they come.
  const queue = new AsyncQueue<{ index: number; steps: TextStep[] }>();
  let running = sources.length;
  sources.forEach((source, index) => {
    const batcher = new StepBatcher(source);
    void (async () => {
      for (let steps = await batcher.next(); steps.length > 0; steps = await batcher.next()) {
        queue.push({ index, steps });
      }
      if (--running === 0) queue.end();
    })().catch((error: unknown) => queue.end(error instanceof Error ? error : new Error(String(error))));
  });
  const stream = streamChoices({
    deps,
    choices,
    queue,
    usages,
    closeAll,
    deadline,
    scope,
    metrics,
    release: scope.keepOpen(),
  });
  return sseResponse(stream, headers, scope.outgoing);
}

/** What a streamed answer of several choices needs. */
interface ChoicesStreamState {
  deps: GenerationDeps;
  choices: readonly Choice[];
  queue: AsyncQueue<{ index: number; steps: TextStep[] }>;
  usages: EngineUsage[];
  closeAll: () => Promise<unknown>;
  deadline: Deadline;
  scope: RequestScope;
  metrics: RequestMetrics;
  release: () => void;
}

/** The batches of every choice as they come; module-level for the reason `streamSteps` gives (generation.ts). */
async function* streamChoices(s: ChoicesStreamState): AsyncGenerator<unknown[]> {
  const { choices, usages } = s;
  const first = choices[0]?.format;
  const includeUsage = choices[0]?.req.includeUsage ?? false;
  let outcome: RequestOutcome = { status: "error", errorType: "cancelled" };
  try {
    let batch: unknown[] = choices.flatMap(({ format }) => format.start());
    for await (const { index, steps } of s.queue) {
      const format = choices[index]?.format;
      for (const step of steps) {
        usages[index] = step.usage;
        if (format) batch.push(...format.step(step));
      }
      yield batch;
      batch = [];
    }
    if (includeUsage && first?.usage) batch.push(first.usage(totalUsage(choices, usages)));
    outcome = { status: "success" };
    yield [...batch, DONE];
  } catch (error) {
    const failure = clientError(error, s.deadline, s.scope, s.deps.requestTimeoutSeconds);
    outcome = { status: "error", errorType: errorTypeOf(failure) };
    s.scope.log.warn("stream failed", { status: failure.status, error: String(error) });
    yield [first ? first.error(failure) : failure.toBody(), DONE];
  } finally {
    s.queue.end();
    await s.closeAll();
    s.metrics.finish(outcome, totalUsage(choices, usages));
    s.deadline.clear();
    s.release();
  }
}

/** OpenAI's merge: the first answer's fields, every answer's choices in index order, the request's usage. */
export function mergeOpenAI(bodies: unknown[], usage: EngineUsage): unknown {
  const choices: { index: number }[] = [];
  for (const body of bodies) {
    if (typeof body !== "object" || body === null || !("choices" in body) || !Array.isArray(body.choices))
      continue;
    choices.push(...body.choices);
  }
  choices.sort((a, b) => a.index - b.index);
  const first = bodies[0];
  return { ...(typeof first === "object" && first !== null ? first : {}), choices, usage: toUsage(usage) };
}
