import { type ChatOutputParserOptions, parsersNeedSpecialTokens } from "@kvasir/llm";
import { noWorker } from "@kvasir/serving";
import { type FrontendMetrics, REQUEST_ID_HEADER, withSpan } from "@kvasir/telemetry";
import type { Context, Hono, MiddlewareHandler } from "hono";
import { accessRecord } from "./access-log.js";
import { anthropicMessageId } from "./anthropic/ids.js";
import { jsonBody } from "./body.js";
import { modelNotFound, toHttpError } from "./errors.js";
import type { ModelCatalog } from "./model-catalog.js";
import type { ServedModel } from "./model-registry.js";
import { chatChoiceOptions, chatFormat, prepareChat, validateChat } from "./openai/chat.js";
import { type Choice, mergeOpenAI, respondChoices } from "./openai/choices.js";
import {
  type CompletionPrompt,
  completionFormat,
  completionLogprobs,
  prepareCompletion,
  validateCompletion,
} from "./openai/completions.js";
import { type GenerationDeps, type OutputFormat, respond } from "./openai/generation.js";
import { type PreparedRequest, withChoices } from "./openai/prepare.js";
import type { ResponseHeader } from "./openai/responses.js";
import { responseId } from "./openai/responses-ids.js";
import { addUtilityRoutes } from "./openai/utility-routes.js";
import type { Preprocessor } from "./preprocessor.js";
import { errorTypeOf, RequestMetrics } from "./request-metrics.js";
import type { AppEnv } from "./request-scope.js";

export type Endpoint = "chat_completions" | "completions" | "anthropic_messages" | "responses";

/** A validated request body: what every generation endpoint's body has in common. */
export interface GenerationBody {
  model: string;
  stream?: boolean | null;
}

/** A request turned into tokens and engine parameters, and how its answer is to be written. */
export interface Preparation {
  prepared: PreparedRequest;
  format(header: { id: string; created: number; model: string }): OutputFormat;
  /**
   * Several choices (n > 1, prompt lists, or a max_tokens 0 completion): each with its request and format,
   * answered together by respondChoices instead of `prepared` and `format`.
   */
  choices?(header: ResponseHeader): Choice[];
}

const idOf: Record<Endpoint, (requestId: string) => string> = {
  chat_completions: (requestId) => `chatcmpl-${requestId}`,
  completions: (requestId) => `cmpl-${requestId}`,
  anthropic_messages: anthropicMessageId,
  responses: responseId,
};

/** Serves one generation request: validate, resolve the model, prepare, run and answer (each API's routes call it). */
export type ServeGeneration = <B extends GenerationBody>(
  c: Context<AppEnv>,
  endpoint: Endpoint,
  validate: (body: unknown) => B,
  build: Build<B>,
) => Promise<Response>;

/** Turns a body into a Preparation; `signal` is the client's (a large prompt's tokenizing stops when it leaves). */
export type Build<B> = (
  body: B,
  model: ServedModel<Preprocessor>,
  pre: Preprocessor,
  signal: AbortSignal,
) => Preparation | Promise<Preparation>;

export interface GenerationRouteDeps extends GenerationDeps {
  models: ModelCatalog;
  metrics: FrontendMetrics;
  parsers: Pick<ChatOutputParserOptions, "reasoningParser" | "toolCallParser" | "streamingToolDispatch">;
}

/**
 * `POST /v1/chat/completions` and `/v1/completions`; returns the request path they share (serve), for the routes of the
 * Responses and Anthropic APIs.
 */
export function addGenerationRoutes(
  app: Hono<AppEnv>,
  deps: GenerationRouteDeps,
  bodyLimit: MiddlewareHandler<AppEnv>,
): ServeGeneration {
  async function serve<B extends GenerationBody>(
    c: Context<AppEnv>,
    endpoint: Endpoint,
    validate: (body: unknown) => B,
    build: Build<B>,
  ): Promise<Response> {
    const scope = c.get("scope");
    const body = validate(await jsonBody(c));
    const model = deps.models.resolve(body.model);
    if (!model) {
      // A model that lost its workers moments ago (restart, discovery outage) is worth a retry: 503, not 404.
      throw deps.models.recentlyServed?.(body.model) ? noWorker(body.model) : modelNotFound(body.model);
    }
    const metrics = new RequestMetrics(
      deps.metrics,
      { model: model.name, endpoint, requestType: body.stream ? "stream" : "unary" },
      accessRecord(c.req.raw),
    );
    let pre: Preprocessor;
    let preparation: Preparation;
    try {
      metrics.stage("preprocess");
      [pre, preparation] = await withSpan(
        "preprocess",
        { request_id: scope.requestId, model: model.name },
        async (span) => {
          const loaded = await model.preprocessor();
          const built = await build(body, model, loaded, scope.signal);
          span.setAttribute("prompt_tokens", built.prepared.tokenIds.length);
          return [loaded, built] as const;
        },
        { parent: scope.trace },
      );
    } catch (error) {
      metrics.finish({ status: "error", errorType: errorTypeOf(toHttpError(error)) });
      throw error;
    }
    metrics.input(preparation.prepared.tokenIds.length);
    const header = {
      id: idOf[endpoint](scope.requestId),
      created: Math.floor(Date.now() / 1000),
      model: body.model,
    };
    const headers: Record<string, string> = { [REQUEST_ID_HEADER]: scope.requestId };
    // Anthropic's SDKs read the request id from `request-id`.
    if (endpoint === "anthropic_messages") headers["request-id"] = scope.requestId;
    if (preparation.choices) {
      const choices = preparation.choices(header);
      return respondChoices(deps, pre, choices, mergeOpenAI, scope, metrics, headers);
    }
    return respond(deps, pre, preparation.prepared, preparation.format(header), scope, metrics, headers);
  }

  addUtilityRoutes(app, deps, bodyLimit);

  app.post("/v1/chat/completions", bodyLimit, (c) =>
    serve(c, "chat_completions", validateChat, async (body, model, pre, signal) => {
      const { prepared, prompt } = await prepareChat(body, model, pre, signal);
      // Parsers that read special-token markers (Harmony, Mistral) need them in the text, as vLLM's do.
      if (parsersNeedSpecialTokens(deps.parsers) && body.skip_special_tokens == null)
        prepared.detokenizer.skipSpecialTokens = false;
      const options = chatChoiceOptions(body, pre, prepared);
      const n = body.n ?? 1;
      const format = (header: ResponseHeader, index: number) =>
        chatFormat(header, deps.parsers, prompt, prepared.includeUsage, options(index));
      const choices = (header: ResponseHeader) =>
        withChoices(prepared, n).map((req, index) => ({ req, prompt: 0, format: format(header, index) }));
      return { prepared, format: (header) => format(header, 0), ...(n > 1 ? { choices } : {}) };
    }),
  );

  app.post("/v1/completions", bodyLimit, (c) =>
    serve(c, "completions", validateCompletion, async (body, model, pre, signal) => {
      const prompts = await prepareCompletion(body, model, pre, signal);
      const first = prompts[0];
      if (!first) throw new Error("a validated completion request has a prompt");
      const n = body.n ?? 1;
      const format = (header: ResponseHeader, prompt: CompletionPrompt, index: number) =>
        completionFormat(header, prompt.echo, prompt.prepared.includeUsage, {
          index,
          logprobs: completionLogprobs(body, pre, prompt),
        });
      // Choices are numbered across prompts as OpenAI numbers them: prompt p's i-th choice is p * n + i.
      const choices = (header: ResponseHeader) =>
        prompts.flatMap((prompt, p) =>
          withChoices(prompt.prepared, n).map(
            (req, i): Choice => ({ req, prompt: p, format: format(header, prompt, p * n + i) }),
          ),
        );
      const several = prompts.length > 1 || n > 1 || first.prepared.params.maxTokens === 0;
      return {
        prepared: first.prepared,
        format: (header) => format(header, first, 0),
        ...(several ? { choices } : {}),
      };
    }),
  );
  return serve;
}
