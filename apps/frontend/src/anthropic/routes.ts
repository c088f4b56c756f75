// Anthropic's Messages API: `POST /v1/messages` and `/v1/messages/count_tokens` (`--enable-anthropic-api`).
// Every answer on these paths carries Anthropic's `request-id` header, and errors (404, 405, bad bodies) come in
// Anthropic's shape (the app's error handler asks `isAnthropicPath`).
import { noWorker } from "@kvasir/serving";
import type { Hono, MiddlewareHandler } from "hono";
import { jsonBody } from "../body.js";
import { HttpError, modelNotFound } from "../errors.js";
import type { ServeGeneration } from "../generation-routes.js";
import type { ModelCatalog } from "../model-catalog.js";
import type { ParserChoice } from "../openai/chat.js";
import type { AppEnv } from "../request-scope.js";
import { sentDirectly } from "../sse.js";
import {
  type AnthropicOptions,
  countMessageTokens,
  messagesFormat,
  prepareMessages,
  validateCountTokens,
  validateMessages,
} from "./messages.js";

export const MESSAGES_PATH = "/v1/messages";
export const COUNT_TOKENS_PATH = "/v1/messages/count_tokens";

/** Paths answered in Anthropic's shapes: the Messages API and anything under it. */
export function isAnthropicPath(path: string): boolean {
  return path === MESSAGES_PATH || path.startsWith(`${MESSAGES_PATH}/`);
}

export interface AnthropicRouteDeps {
  serve: ServeGeneration;
  models: ModelCatalog;
  parsers: ParserChoice;
  options: AnthropicOptions;
}

/** Anthropic's SDKs read the request id from `request-id` (the frontend's own is `x-request-id`). */
const requestIdHeader: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  const scope = c.get("scope");
  if (scope && !sentDirectly(c.res)) c.res.headers.set("request-id", scope.requestId);
};

export function addAnthropicRoutes(
  app: Hono<AppEnv>,
  deps: AnthropicRouteDeps,
  bodyLimit: MiddlewareHandler<AppEnv>,
): void {
  const { serve, models, parsers, options } = deps;
  app.use(MESSAGES_PATH, requestIdHeader);
  app.use(`${MESSAGES_PATH}/*`, requestIdHeader);

  app.post(MESSAGES_PATH, bodyLimit, (c) =>
    serve(c, "anthropic_messages", validateMessages, async (body, model, pre, signal) => {
      const { prepared, prompt, breakpointTokens, forced } = await prepareMessages(
        body,
        model,
        pre,
        options,
        signal,
      );
      return {
        prepared,
        format: (header) => messagesFormat(header, parsers, prompt, breakpointTokens, forced),
      };
    }),
  );

  app.post(COUNT_TOKENS_PATH, bodyLimit, async (c) => {
    const body = validateCountTokens(await jsonBody(c));
    const model = models.resolve(body.model);
    if (!model) throw models.recentlyServed?.(body.model) ? noWorker(body.model) : modelNotFound(body.model);
    const pre = await model.preprocessor();
    const inputTokens = await countMessageTokens(body, model, pre, options, c.get("scope").signal);
    return c.json({ input_tokens: inputTokens });
  });

  // Hono answers an unrouted method with 404; Anthropic clients get the 405 it is, in their shape.
  app.on(["GET", "PUT", "PATCH", "DELETE"], [MESSAGES_PATH, COUNT_TOKENS_PATH], (c) => {
    const failure = new HttpError(405, `Method ${c.req.method} is not allowed on ${c.req.path}; use POST.`);
    return c.json(failure.toAnthropicBody(), 405, { allow: "POST" });
  });
}
