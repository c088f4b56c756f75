import { formatInstanceId } from "@kvasir/runtime";
import type { Handler, MoveInfo } from "@kvasir/serving";
import { createFrontendMetrics, type Logger, type MetricsRegistry } from "@kvasir/telemetry";
import { Hono } from "hono";
import { accessLog } from "./access-log.js";
import { addAnthropicRoutes, isAnthropicPath } from "./anthropic/routes.js";
import { apiKeyAuth } from "./api-key.js";
import { readBody } from "./body.js";
import type { FrontendConfig } from "./config.js";
import { corsMiddleware } from "./cors.js";
import { HttpError, toHttpError } from "./errors.js";
import { addGenerationRoutes } from "./generation-routes.js";
import type { InFlight } from "./inflight.js";
import type { ModelCatalog } from "./model-catalog.js";
import { ResponseStore } from "./openai/response-store.js";
import { addResponsesRoutes } from "./openai/responses-routes.js";
import { type AppEnv, requestScope } from "./request-scope.js";
import { addStatusRoutes } from "./status-routes.js";

export type AppConfig = Pick<
  FrontendConfig,
  | "requestTimeoutSeconds"
  | "maxBodyBytes"
  | "bodyReadTimeoutSeconds"
  | "migrationLimit"
  | "reasoningParser"
  | "toolCallParser"
  | "streamingToolDispatch"
  | "corsAllowedOrigins"
  | "accessLog"
  | "enableAnthropicApi"
  | "stripAnthropicPreamble"
  | "responsesStore"
>;

const DEFAULT_BODY_READ_TIMEOUT_SECONDS = 30;

export interface AppDeps {
  models: ModelCatalog;
  /** The request path (route, call worker, retry, migrate, shed), assembled by the caller from serving's stages. */
  generate: Handler;
  metrics: MetricsRegistry;
  log: Logger;
  config: AppConfig;
  /** Counts requests for draining on stop. */
  inFlight?: InFlight;
  /** `--api-key`: /v1 answers only requests carrying one of these. */
  apiKeys?: readonly string[];
}

/** The frontend's HTTP API as a hono app, with every dependency injected (tests call `app.request()`). */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const { config, log } = deps;
  const app = new Hono<AppEnv>();
  const metrics = createFrontendMetrics(deps.metrics);
  // Before everything else: a refused or unknown request is logged too, and a preflight needs no API key.
  if (config.accessLog !== false) app.use("*", accessLog(log));
  const cors = corsMiddleware(config.corsAllowedOrigins ?? []);
  if (cors) app.use("*", cors);
  // Errors reach clients in their API's shape: Anthropic's on /v1/messages (when served), OpenAI's elsewhere.
  const anthropic = config.enableAnthropicApi ?? false;
  const errorBody = (path: string, failure: HttpError) =>
    anthropic && isAnthropicPath(path) ? failure.toAnthropicBody() : failure.toBody();

  app.onError((error, c) => {
    const failure = toHttpError(error);
    if (failure.status === 500) log.error("request failed", { path: c.req.path, error: String(error) });
    else if (failure.status >= 500) log.warn("request failed", { path: c.req.path, error: failure.message });
    return c.json(errorBody(c.req.path, failure), failure.status);
  });
  app.notFound((c) =>
    c.json(errorBody(c.req.path, new HttpError(404, `No route for ${c.req.method} ${c.req.path}.`)), 404),
  );
  app.use("/v1/*", apiKeyAuth(deps.apiKeys, anthropic));
  app.use("/v1/*", requestScope(log, deps.inFlight));

  const onMove = ({ kind, requestId, model, instanceId, generated, error }: MoveInfo) => {
    const migration_type = kind === "migration" ? "ongoing_request" : "new_request";
    metrics.modelMigrationTotal.inc({ model, migration_type });
    log.warn(kind === "migration" ? "migrating request" : "retrying request on another worker", {
      request_id: requestId,
      worker_id: formatInstanceId(instanceId),
      generated_tokens: generated,
      error: String(error),
    });
  };
  const limit = readBody({
    maxBytes: config.maxBodyBytes,
    timeoutMs: (config.bodyReadTimeoutSeconds ?? DEFAULT_BODY_READ_TIMEOUT_SECONDS) * 1000,
    errorBody,
  });
  const parsers = {
    ...(config.reasoningParser ? { reasoningParser: config.reasoningParser } : {}),
    ...(config.toolCallParser ? { toolCallParser: config.toolCallParser } : {}),
    ...(config.streamingToolDispatch ? { streamingToolDispatch: true } : {}),
  };
  const serve = addGenerationRoutes(
    app,
    {
      generate: deps.generate,
      onMove,
      requestTimeoutSeconds: config.requestTimeoutSeconds,
      models: deps.models,
      metrics,
      parsers,
    },
    limit,
  );
  const { maxEntries = 1024, ttlSeconds = 3600 } = config.responsesStore ?? {};
  const store = new ResponseStore({ maxEntries, ttlMs: ttlSeconds * 1000 });
  addResponsesRoutes(app, { serve, parsers, store }, limit);
  if (anthropic) {
    const options = { stripPreamble: config.stripAnthropicPreamble ?? false };
    addAnthropicRoutes(app, { serve, models: deps.models, parsers, options }, limit);
  }
  addStatusRoutes(app, deps.models, deps.metrics, metrics, config.migrationLimit);
  return app;
}
