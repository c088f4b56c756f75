import type { ChatOutputParserOptions } from "@kvasir/llm";
import { noWorker } from "@kvasir/serving";
import { type FrontendMetrics, REQUEST_ID_HEADER, withSpan } from "@kvasir/telemetry";
import type { Context, Hono, MiddlewareHandler } from "hono";
import { anthropicMessageId } from "./anthropic/ids.js";
import { jsonBody } from "./body.js";
import { modelNotFound, toHttpError } from "./errors.js";
import type { ModelCatalog } from "./model-catalog.js";
import type { ServedModel } from "./model-registry.js";
import { chatFormat, prepareChat, validateChat } from "./openai/chat.js";
import { completionFormat, prepareCompletion, validateCompletion } from "./openai/completions.js";
import { type GenerationDeps, type OutputFormat, respond } from "./openai/generation.js";
import type { PreparedRequest } from "./openai/prepare.js";
import { responseId } from "./openai/responses-ids.js";
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
  build: (body: B, model: ServedModel<Preprocessor>, pre: Preprocessor) => Preparation,
) => Promise<Response>;

export interface GenerationRouteDeps extends GenerationDeps {
  models: ModelCatalog;
  metrics: FrontendMetrics;
  parsers: Pick<ChatOutputParserOptions, "reasoningParser" | "toolCallParser">;
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
    build: (body: B, model: ServedModel<Preprocessor>, pre: Preprocessor) => Preparation,
  ): Promise<Response> {
    const scope = c.get("scope");
    const body = validate(await jsonBody(c));
    const model = deps.models.resolve(body.model);
    if (!model) {
      // A model that lost its workers moments ago (restart, discovery outage) is worth a retry: 503, not 404.
      throw deps.models.recentlyServed?.(body.model) ? noWorker(body.model) : modelNotFound(body.model);
    }
    const metrics = new RequestMetrics(deps.metrics, {
      model: model.name,
      endpoint,
      requestType: body.stream ? "stream" : "unary",
    });
    let pre: Preprocessor;
    let preparation: Preparation;
    try {
      metrics.stage("preprocess");
      [pre, preparation] = await withSpan(
        "preprocess",
        { request_id: scope.requestId, model: model.name },
        async (span) => {
          const loaded = await model.preprocessor();
          const built = build(body, model, loaded);
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
    return respond(deps, pre, preparation.prepared, preparation.format(header), scope, metrics, headers);
  }

  app.post("/v1/chat/completions", bodyLimit, (c) =>
    serve(c, "chat_completions", validateChat, (body, model, pre) => {
      const { prepared, prompt } = prepareChat(body, model, pre);
      return {
        prepared,
        format: (header) => chatFormat(header, deps.parsers, prompt, prepared.includeUsage),
      };
    }),
  );

  app.post("/v1/completions", bodyLimit, (c) =>
    serve(c, "completions", validateCompletion, (body, model, pre) => {
      const { prepared, echo } = prepareCompletion(body, model, pre);
      return { prepared, format: (header) => completionFormat(header, echo, prepared.includeUsage) };
    }),
  );
  return serve;
}
