import type { ChatOutputParserOptions } from "@kvasir/llm";
import { noWorker } from "@kvasir/serving";
import { type FrontendMetrics, REQUEST_ID_HEADER, withSpan } from "@kvasir/telemetry";
import type { Context, Hono, MiddlewareHandler } from "hono";
import { messagesFormat, prepareMessages, validateMessages } from "./anthropic/messages.js";
import { jsonBody } from "./body.js";
import { modelNotFound, toHttpError } from "./errors.js";
import type { ModelCatalog } from "./model-catalog.js";
import type { ServedModel } from "./model-registry.js";
import { chatFormat, prepareChat, validateChat } from "./openai/chat.js";
import { completionFormat, prepareCompletion, validateCompletion } from "./openai/completions.js";
import { type GenerationDeps, type OutputFormat, respond } from "./openai/generation.js";
import type { PreparedRequest } from "./openai/prepare.js";
import type { Preprocessor } from "./preprocessor.js";
import { errorTypeOf, RequestMetrics } from "./request-metrics.js";
import type { AppEnv } from "./request-scope.js";

export const MESSAGES_PATH = "/v1/messages";

type Endpoint = "chat_completions" | "completions" | "anthropic_messages";

/** A validated request body: what every generation endpoint's body has in common. */
interface GenerationBody {
  model: string;
  stream?: boolean | null;
}

/** A request turned into tokens and engine parameters, and how its answer is to be written. */
interface Preparation {
  prepared: PreparedRequest;
  format(header: { id: string; created: number; model: string }): OutputFormat;
}

const idPrefix: Record<Endpoint, string> = {
  chat_completions: "chatcmpl",
  completions: "cmpl",
  anthropic_messages: "msg",
};

export interface GenerationRouteDeps extends GenerationDeps {
  models: ModelCatalog;
  metrics: FrontendMetrics;
  parsers: Pick<ChatOutputParserOptions, "reasoningParser" | "toolCallParser">;
}

/** `POST /v1/chat/completions`, `/v1/completions` and Anthropic's `/v1/messages`. */
export function addGenerationRoutes(
  app: Hono<AppEnv>,
  deps: GenerationRouteDeps,
  bodyLimit: MiddlewareHandler<AppEnv>,
): void {
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
      id: `${idPrefix[endpoint]}-${scope.requestId}`,
      created: Math.floor(Date.now() / 1000),
      model: body.model,
    };
    const headers = { [REQUEST_ID_HEADER]: scope.requestId };
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

  app.post(MESSAGES_PATH, bodyLimit, (c) =>
    serve(c, "anthropic_messages", validateMessages, (body, model, pre) => {
      const { prepared, prompt } = prepareMessages(body, model, pre);
      const inputTokens = prepared.tokenIds.length;
      return { prepared, format: (header) => messagesFormat(header, deps.parsers, prompt, inputTokens) };
    }),
  );
}
