// `/v1/embeddings` (OpenAI's shape, served by workers of embedding models through the same request path), and
// vLLM's `/tokenize` and `/detokenize` under /v1 (shapes from vLLM's protocol module: TokenizeCompletionRequest,
// TokenizeChatRequest, TokenizeResponse {count, max_model_len, tokens, token_strs}, DetokenizeResponse {prompt}).
import {
  type OpenAIErrorBody,
  type ValidationResult,
  validateDetokenizeRequest,
  validateEmbeddingRequest,
  validateTokenizeRequest,
} from "@kvasir/llm";
import { type EngineParams, noWorker, servingContext } from "@kvasir/serving";
import { type FrontendMetrics, REQUEST_ID_HEADER } from "@kvasir/telemetry";
import type { Context, Hono, MiddlewareHandler } from "hono";
import { jsonBody } from "../body.js";
import { badRequest, HttpError, modelNotFound } from "../errors.js";
import type { ModelCatalog } from "../model-catalog.js";
import type { ServedModel } from "../model-registry.js";
import { detokenize, type Preprocessor, tokenizeForClient, tokenizeText } from "../preprocessor.js";
import { errorTypeOf, RequestMetrics } from "../request-metrics.js";
import type { AppEnv } from "../request-scope.js";
import { clientError, Deadline, type GenerationDeps } from "./generation.js";

export interface UtilityRouteDeps extends GenerationDeps {
  models: ModelCatalog;
  metrics: FrontendMetrics;
}

function valid<T>(result: ValidationResult<T, OpenAIErrorBody>): T {
  if (result.ok) return result.value;
  const { message, code, param } = result.error.error;
  throw new HttpError(400, message, code, param);
}

/** The model a request names; tokenize and detokenize may leave it out when one model is served (as vLLM). */
function modelOf(models: ModelCatalog, id: string | null | undefined): ServedModel<Preprocessor> {
  if (id == null) {
    const names = new Set(models.list().map((m) => m.name));
    const [only] = names;
    if (names.size === 1 && only !== undefined) {
      const model = models.resolve(only);
      if (model) return model;
    }
    throw new HttpError(400, "Missing required parameter: 'model'.", "missing_required_parameter", "model");
  }
  const model = models.resolve(id);
  if (!model) throw models.recentlyServed?.(id) ? noWorker(id) : modelNotFound(id);
  return model;
}

/** Little-endian float32 bytes in base64, OpenAI's `encoding_format: "base64"`. */
function base64Floats(vector: readonly number[]): string {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i] ?? 0, true);
  return Buffer.from(bytes).toString("base64");
}

export function addUtilityRoutes(
  app: Hono<AppEnv>,
  deps: UtilityRouteDeps,
  bodyLimit: MiddlewareHandler<AppEnv>,
) {
  app.post("/v1/embeddings", bodyLimit, async (c: Context<AppEnv>) => {
    const scope = c.get("scope");
    const body = valid(validateEmbeddingRequest(await jsonBody(c)));
    const model = modelOf(deps.models, body.model);
    if (!model.card.modelTypes.includes("embedding")) {
      throw new HttpError(
        400,
        `The model '${body.model}' does not support embeddings.`,
        "model_not_supported",
        "model",
      );
    }
    const pre = await model.preprocessor();
    const { contextLength } = model.card;
    // Large texts are tokenized on the pool's threads, as a completions prompt is; one at a time, so a batch of
    // many large inputs does not fill the pool's queue and get itself refused.
    const tokenized: number[][] = [];
    for (const [i, input] of body.input.entries()) {
      const param = body.input.length > 1 ? `input[${i}]` : "input";
      tokenized.push(
        typeof input === "string"
          ? await tokenizeText(pre, input, { contextLength, param, signal: scope.signal })
          : input,
      );
    }
    const inputs = tokenized.map((tokenIds, i) => {
      const param = body.input.length > 1 ? `input[${i}]` : "input";
      if (tokenIds.length === 0) throw badRequest("The input is empty.", param);
      if (tokenIds.length >= model.card.contextLength) {
        throw badRequest(
          `This model's maximum context length is ${model.card.contextLength} tokens; the input has ${tokenIds.length}.`,
          param,
        );
      }
      return tokenIds;
    });
    const metrics = new RequestMetrics(deps.metrics, {
      model: model.name,
      endpoint: "embeddings",
      requestType: "unary",
    });
    const promptTokens = inputs.reduce((sum, ids) => sum + ids.length, 0);
    metrics.input(promptTokens);
    const deadline = new Deadline(scope.signal, deps.requestTimeoutSeconds * 1000);
    const context = servingContext(deadline.signal, {
      trace: scope.trace,
      onStage: (stage, phase) => metrics.stage(stage, phase),
      ...(deps.onMove ? { onMove: deps.onMove } : {}),
    });
    const params: EngineParams = {
      maxTokens: 1,
      stopTokenIds: [],
      ignoreEos: true,
      minTokens: 0,
      embedding: { dimensions: body.dimensions ?? 0 },
    };
    let vectors: number[][];
    try {
      vectors = await Promise.all(
        inputs.map(async (tokenIds, i) => {
          const requestId = inputs.length > 1 ? `${scope.requestId}-${i}` : scope.requestId;
          const request = {
            requestId,
            model: model.name,
            tokenIds,
            params,
            priority: 0,
            headers: { "x-request-id": requestId },
          };
          let vector: number[] | undefined;
          for await (const output of deps.generate(request, context)) vector = output.embedding ?? vector;
          if (!vector) throw new HttpError(503, "The worker returned no embedding.", "worker_failed");
          return vector;
        }),
      );
    } catch (error) {
      const failure = clientError(error, deadline, scope, deps.requestTimeoutSeconds);
      metrics.finish({ status: "error", errorType: errorTypeOf(failure) });
      throw failure;
    } finally {
      deadline.clear();
    }
    metrics.finish({ status: "success" }, { promptTokens, completionTokens: 0, cachedTokens: 0 });
    const base64 = body.encoding_format === "base64";
    return c.json(
      {
        object: "list",
        data: vectors.map((vector, index) => ({
          object: "embedding",
          index,
          embedding: base64 ? base64Floats(vector) : vector,
        })),
        model: body.model,
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      },
      200,
      { [REQUEST_ID_HEADER]: scope.requestId },
    );
  });

  // Large prompts and chats are tokenized on the pool's threads, as a generation request's are.
  app.post("/v1/tokenize", bodyLimit, async (c: Context<AppEnv>) => {
    const body = valid(validateTokenizeRequest(await jsonBody(c)));
    const model = modelOf(deps.models, body.model);
    const pre = await model.preprocessor();
    const input =
      "prompt" in body
        ? { text: body.prompt }
        : {
            chat: {
              messages: body.messages.map((m) =>
                m.role === "developer" ? { ...m, role: "system" as const } : m,
              ),
              addGenerationPrompt: body.add_generation_prompt,
              ...(body.tools ? { tools: body.tools } : {}),
              ...(body.chat_template_kwargs ? { kwargs: body.chat_template_kwargs } : {}),
            },
          };
    const { tokenIds, tokenStrs } = await tokenizeForClient(pre, input, {
      addSpecialTokens: body.add_special_tokens,
      tokenStrs: body.return_token_strs === true,
      signal: c.get("scope").signal,
    });
    return c.json({
      count: tokenIds.length,
      max_model_len: model.card.contextLength,
      tokens: tokenIds,
      ...(tokenStrs ? { token_strs: tokenStrs } : {}),
    });
  });

  app.post("/v1/detokenize", bodyLimit, async (c: Context<AppEnv>) => {
    const body = valid(validateDetokenizeRequest(await jsonBody(c)));
    const model = modelOf(deps.models, body.model);
    const pre = await model.preprocessor();
    const vocab = pre.tokenizer.vocabSize;
    body.tokens.forEach((id, i) => {
      if (id >= vocab)
        throw badRequest(`Token id ${id} is outside the vocabulary (${vocab}).`, `tokens[${i}]`);
    });
    const signal = c.get("scope").signal;
    return c.json({ prompt: await detokenize(pre, body.tokens, { skipSpecialTokens: false, signal }) });
  });
}
