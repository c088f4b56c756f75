// vLLM's HTTP API as the simulator serves it: POST /v1/completions (token-id prompts, return_token_ids), the
// tokens-in/tokens-out POST /inference/v1/generate, GET /v1/models, /health, /version, /metrics. Bodies are
// engine-wire's vLLM shapes (vllm/entrypoints/openai/completion/protocol.py, serve/disagg/protocol.py); errors are
// vLLM's ErrorResponse. kv_transfer_params follow NixlConnector when --kv-transfer-config is given.
import { randomUUID } from "node:crypto";
import {
  encodeSseJson,
  SSE_DONE_FRAME,
  type VllmFinishReason,
  type VllmKvTransferParams,
  vllmCompletionChunk,
  vllmCompletionLogprobs,
  vllmCompletionResponse,
  vllmCompletionUsageChunk,
  vllmError,
  vllmGenerateChunk,
  vllmGenerateResponse,
  vllmModelList,
  vllmTokenLogprobs,
  vllmUsage,
} from "@kvasir/engine-wire";
import type { EngineRequest } from "@kvasir/mocker";
import type { Logger } from "@kvasir/telemetry";
import { Hono } from "hono";
import { z } from "zod";
import type { SimulatorConfig } from "./config.js";
import { collectOutputs, type EngineDriver, type RequestOutput, wireLogprobs } from "./engine-driver.js";
import { json, jsonBody, sseResponse } from "./http-util.js";

/** The version /version reports: the vLLM release whose protocol the simulator follows. */
export const SIMULATED_VLLM_VERSION = "0.26.0";

export interface VllmApiDeps {
  config: SimulatorConfig;
  driver: EngineDriver;
  metricsText: () => Promise<string>;
  log: Logger;
  /** Identifies this engine in kv_transfer_params (NixlConnector's engine id). */
  engineId: string;
  draining: () => boolean;
}

const tokenIds = z.array(z.number().int().min(0));
const sampling = {
  temperature: z.number().min(0).nullish(),
  top_p: z.number().nullish(),
  top_k: z.number().nullish(),
  min_p: z.number().nullish(),
  seed: z.number().int().nullish(),
  stop_token_ids: tokenIds.nullish(),
  ignore_eos: z.boolean().optional(),
  min_tokens: z.number().int().min(0).optional(),
  n: z.number().int().optional(),
  logprobs: z.number().int().nullish(),
};
const streamOptions = z.object({ include_usage: z.boolean().nullish() }).nullish();
const kvTransferParams = z.record(z.string(), z.unknown()).nullish();

const completionSchema = z.looseObject({
  model: z.string().nullish(),
  prompt: z.union([tokenIds.min(1), z.array(tokenIds.min(1)), z.string(), z.array(z.string())]),
  max_tokens: z.number().int().nullish(),
  stream: z.boolean().nullish(),
  stream_options: streamOptions,
  return_token_ids: z.boolean().nullish(),
  return_tokens_as_token_ids: z.boolean().nullish(),
  priority: z.number().int().optional(),
  request_id: z.string().optional(),
  cache_salt: z.string().nullish(),
  kv_transfer_params: kvTransferParams,
  ...sampling,
});

const generateSchema = z.looseObject({
  request_id: z.string().optional(),
  token_ids: tokenIds.min(1),
  sampling_params: z.looseObject({ max_tokens: z.number().int().nullish(), ...sampling }),
  model: z.string().nullish(),
  stream: z.boolean().nullish(),
  stream_options: streamOptions,
  cache_salt: z.string().nullish(),
  priority: z.number().int().optional(),
  kv_transfer_params: kvTransferParams,
});

/** One prompt of token ids (alone or as a batch of one); undefined for text or a larger batch. */
function tokenPrompt(prompt: number[] | number[][] | string | string[]): number[] | undefined {
  if (typeof prompt === "string") return undefined;
  const out: number[] = [];
  for (const item of prompt) {
    if (typeof item === "number") out.push(item);
    else if (Array.isArray(item) && prompt.length === 1) return item;
    else return undefined;
  }
  return out;
}

/** vLLM's default --max-logprobs: more alternatives than this are refused. */
const MAX_LOGPROBS = 20;

/** vLLM's X-data-parallel-rank header: a rank routers pick; ignored when not an integer (as vLLM does). */
function dataParallelRank(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const rank = Number(header);
  return Number.isInteger(rank) ? rank : undefined;
}

type Sampling = { [K in keyof typeof sampling]?: z.infer<(typeof sampling)[K]> };

class RequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
    readonly type = "BadRequestError",
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

const errorResponse = (error: RequestError) =>
  json(vllmError(error.message, error.status, error.type, error.param), error.status);

const zodMessage = (error: z.ZodError) =>
  error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");

export function vllmApp(deps: VllmApiDeps): Hono {
  const { config, driver } = deps;
  const created = Math.floor(Date.now() / 1000);
  const app = new Hono();
  // vLLM puts cached prompt tokens in usage.prompt_tokens_details only with --enable-prompt-tokens-details.
  const details = config.ignored.includes("enable-prompt-tokens-details");
  const cachedOf = (output: RequestOutput | undefined): number | null =>
    details ? (output?.cachedTokens ?? 0) : null;

  /** The LoRA name a request's model asks for ("" for the base model); throws 404 for an unknown model. */
  const loraOf = (model: string | null | undefined): string => {
    if (model == null || model === config.servedModelName || model === config.model) return "";
    if (config.loras.includes(model)) return model;
    throw new RequestError(`The model \`${model}\` does not exist.`, 404, "NotFoundError", "model");
  };

  /** A MockEngine request from vLLM's fields; validates as vLLM's serving layer does. */
  const engineRequest = (
    requestId: string,
    prompt: number[],
    maxTokens: number | null | undefined,
    params: Sampling,
    priority: number,
    lora: string,
    cacheSalt: string | null | undefined,
    kv: VllmKvTransferParams | null | undefined,
    dpRank: number | undefined,
  ): { request: EngineRequest; role: "prefill" | "decode" | undefined } => {
    const maxLen = driver.engine.config.maxModelLen;
    if (prompt.length >= maxLen) {
      throw new RequestError(
        `This model's maximum context length is ${maxLen} tokens. However, your request has ${prompt.length} input tokens. Please reduce the length of the input messages.`,
      );
    }
    const max = maxTokens ?? maxLen - prompt.length;
    if (max < 1)
      throw new RequestError(
        "max_tokens must be at least 1, got " + max,
        400,
        "BadRequestError",
        "max_tokens",
      );
    if (prompt.length + max > maxLen) {
      throw new RequestError(
        `'max_tokens' or 'max_completion_tokens' is too large: ${max}. This model's maximum context length is ${maxLen} tokens and your request has ${prompt.length} input tokens (${max} > ${maxLen} - ${prompt.length}).`,
        400,
        "BadRequestError",
        "max_tokens",
      );
    }
    if ((params.n ?? 1) !== 1)
      throw new RequestError("the simulator runs n=1 only", 400, "BadRequestError", "n");
    const logprobs = params.logprobs ?? undefined;
    // As vLLM words it (vllm/sampling_params.py's logprob validation; its -1, the whole vocabulary, is over the cap too).
    if (logprobs !== undefined && (logprobs < 0 || logprobs > MAX_LOGPROBS)) {
      throw new RequestError(
        `Requested sample logprobs of ${logprobs}, which is greater than max allowed: ${MAX_LOGPROBS}`,
        400,
        "BadRequestError",
        "logprobs",
      );
    }
    if (priority !== 0 && !config.priorityScheduling) {
      throw new RequestError(`Got priority ${priority} but Priority scheduling is not enabled.`);
    }
    let role: "prefill" | "decode" | undefined;
    let external = 0;
    if (config.kvTransfer && kv) {
      if (kv.do_remote_decode === true) role = "prefill";
      else if (kv.do_remote_prefill === true) {
        const complete = [
          "remote_block_ids",
          "remote_engine_id",
          "remote_request_id",
          "remote_host",
          "remote_port",
        ].every((key) => kv[key] !== undefined && kv[key] !== null);
        if (complete) {
          role = "decode";
          // As NixlConnector: every prompt token but the last arrives from the prefill engine.
          external = prompt.length - 1;
        } else {
          deps.log.warn("Got invalid KVTransferParams; recomputing the prompt locally", {
            request_id: requestId,
          });
        }
      }
    }
    const request: EngineRequest = {
      requestId,
      tokenIds: prompt,
      maxTokens: max,
      ...(params.ignore_eos === undefined ? {} : { ignoreEos: params.ignore_eos }),
      ...(params.stop_token_ids ? { stopTokenIds: params.stop_token_ids } : {}),
      ...(params.min_tokens === undefined ? {} : { minTokens: params.min_tokens }),
      ...(params.seed == null ? {} : { seed: params.seed }),
      ...(params.temperature == null ? {} : { temperature: params.temperature }),
      ...(logprobs === undefined ? {} : { logprobs }),
      // vLLM runs lower values first; the mocker admits higher values first.
      priority: -priority,
      ...(lora ? { loraName: lora } : {}),
      ...(cacheSalt ? { cacheSalt } : {}),
      ...(external > 0 ? { externalComputedTokens: external } : {}),
      ...(dpRank === undefined ? {} : { dpRank }),
    };
    const invalid = driver.validate(request);
    if (invalid !== undefined) throw new RequestError(invalid);
    return { request, role };
  };

  const finish = (
    output: RequestOutput,
    request: EngineRequest,
  ): { finishReason: VllmFinishReason | null; stopReason: number | null } => {
    if (!output.finishReason) return { finishReason: null, stopReason: null };
    if (output.finishReason === "cancelled") return { finishReason: "abort", stopReason: null };
    if (output.finishReason === "length") return { finishReason: "length", stopReason: null };
    const last = output.tokenIds.at(-1);
    const byStopId = last !== undefined && Array.from(request.stopTokenIds ?? []).includes(last);
    // EOS ends with stop_reason null; a stop token id names itself.
    return { finishReason: "stop", stopReason: byStopId ? (last ?? null) : null };
  };

  /** What a prefill-role engine hands the decode engine (NixlConnector request_finished). */
  const handOff = (
    request: EngineRequest,
    role: "prefill" | "decode" | undefined,
  ): VllmKvTransferParams | null => {
    if (role !== "prefill") return null;
    const blocks = Math.ceil(request.tokenIds.length / driver.engine.config.blockSize);
    return {
      do_remote_prefill: true,
      do_remote_decode: false,
      remote_block_ids: [Array.from({ length: blocks }, (_, i) => i)],
      remote_engine_id: deps.engineId,
      remote_request_id: request.requestId,
      remote_host: process.env.VLLM_NIXL_SIDE_CHANNEL_HOST ?? "localhost",
      remote_port: Number(process.env.VLLM_NIXL_SIDE_CHANNEL_PORT ?? 5600),
      tp_size: 1,
    };
  };

  const guard = async (run: () => Promise<Response>): Promise<Response> => {
    if (deps.draining())
      return json(vllmError("The server is shutting down.", 503, "ServiceUnavailableError"), 503);
    try {
      return await run();
    } catch (error) {
      if (error instanceof RequestError) return errorResponse(error);
      deps.log.error("request failed", { error: String(error) });
      return json(vllmError(String(error), 500, "InternalServerError"), 500);
    }
  };

  app.post("/v1/completions", (c) =>
    guard(async () => {
      const body = await jsonBody(c);
      if (body instanceof Error) throw new RequestError(body.message);
      const parsed = completionSchema.safeParse(body);
      if (!parsed.success) throw new RequestError(zodMessage(parsed.error));
      const req = parsed.data;
      const prompt = tokenPrompt(req.prompt);
      if (!prompt) {
        throw new RequestError(
          "the engine simulator has no tokenizer: send one prompt as token ids",
          400,
          "BadRequestError",
          "prompt",
        );
      }
      if (req.stream_options && !req.stream)
        throw new RequestError(
          "Stream options can only be defined when `stream=True`.",
          400,
          "BadRequestError",
          "stream_options",
        );
      const logprobs = req.logprobs ?? undefined;
      if (logprobs !== undefined && req.return_tokens_as_token_ids !== true) {
        throw new RequestError(
          "the engine simulator has no tokenizer: ask for logprobs with return_tokens_as_token_ids",
          400,
          "BadRequestError",
          "logprobs",
        );
      }
      const base = c.req.header("x-request-id") ?? req.request_id ?? randomUUID().replaceAll("-", "");
      const id = `cmpl-${base}`;
      const model = req.model ?? config.servedModelName;
      const lora = loraOf(req.model);
      const { request, role } = engineRequest(
        `${id}-0`,
        prompt,
        req.max_tokens === undefined ? 16 : req.max_tokens,
        req,
        req.priority ?? 0,
        lora,
        req.cache_salt,
        req.kv_transfer_params,
        dataParallelRank(c.req.header("x-data-parallel-rank")),
      );
      const controller = new AbortController();
      const outputs = driver.generate(request, controller.signal);
      const head = { id, created: Math.floor(Date.now() / 1000), model };
      const withIds = req.return_token_ids === true;
      if (req.stream) {
        const includeUsage = req.stream_options?.include_usage === true;
        const frames = async function* () {
          let first = true;
          let last: RequestOutput | undefined;
          // Where the next chunk's tokens start in the text so far (token_id names stand for the text here).
          let offset = 0;
          for await (const output of outputs) {
            last = output;
            if (output.tokenIds.length === 0 && !output.finishReason) continue;
            const f = finish(output, request);
            const lp =
              logprobs === undefined ? null : vllmCompletionLogprobs(wireLogprobs(output), logprobs, offset);
            if (lp) for (const token of lp.tokens) offset += token.length;
            yield encodeSseJson(
              vllmCompletionChunk(head, {
                index: 0,
                text: "",
                finishReason: f.finishReason,
                stopReason: f.stopReason,
                promptTokenIds: withIds && first ? prompt : null,
                tokenIds: withIds ? output.tokenIds : null,
                logprobs: lp,
              }),
            );
            first = false;
          }
          if (includeUsage) {
            yield encodeSseJson(
              vllmCompletionUsageChunk(
                head,
                vllmUsage(prompt.length, last?.completionTokens ?? 0, cachedOf(last)),
              ),
            );
          }
          yield SSE_DONE_FRAME;
        };
        return sseResponse(c, frames(), () => controller.abort());
      }
      const whole = await collectOutputs(outputs, c.req.raw.signal, controller);
      if (!whole) throw new RequestError("Client disconnected", 499);
      const { tokenIds: tokens, last } = whole;
      const f = finish(last, request);
      return json(
        vllmCompletionResponse(
          head,
          [
            {
              text: "",
              finishReason: f.finishReason,
              stopReason: f.stopReason,
              tokenIds: withIds ? tokens : null,
              promptTokenIds: withIds ? prompt : null,
              logprobs: logprobs === undefined ? null : vllmCompletionLogprobs(whole.logprobs, logprobs),
            },
          ],
          vllmUsage(prompt.length, last.completionTokens, cachedOf(last)),
          handOff(request, role),
        ),
      );
    }),
  );

  app.post("/inference/v1/generate", (c) =>
    guard(async () => {
      const body = await jsonBody(c);
      if (body instanceof Error) throw new RequestError(body.message);
      const parsed = generateSchema.safeParse(body);
      if (!parsed.success) throw new RequestError(zodMessage(parsed.error));
      const req = parsed.data;
      const base = c.req.header("x-request-id") ?? req.request_id ?? randomUUID().replaceAll("-", "");
      const requestId = `generate-tokens-${base}`;
      const model = req.model ?? config.servedModelName;
      const lora = loraOf(req.model);
      const sp = req.sampling_params;
      const { request, role } = engineRequest(
        requestId,
        req.token_ids,
        sp.max_tokens,
        sp,
        req.priority ?? 0,
        lora,
        req.cache_salt,
        req.kv_transfer_params,
        dataParallelRank(c.req.header("x-data-parallel-rank")),
      );
      const controller = new AbortController();
      const outputs = driver.generate(request, controller.signal);
      const n = sp.logprobs ?? undefined;
      if (req.stream) {
        const includeUsage = req.stream_options?.include_usage === true;
        const frames = async function* () {
          let last: RequestOutput | undefined;
          for await (const output of outputs) {
            last = output;
            if (output.tokenIds.length === 0) continue;
            const f = finish(output, request);
            yield encodeSseJson(
              vllmGenerateChunk(requestId, {
                index: 0,
                finishReason: f.finishReason,
                tokenIds: output.tokenIds,
                logprobs: n === undefined ? null : vllmTokenLogprobs(wireLogprobs(output), n),
              }),
            );
          }
          if (includeUsage) {
            const { prompt_tokens_details: cached, ...usage } = vllmUsage(
              req.token_ids.length,
              last?.completionTokens ?? 0,
              cachedOf(last),
            );
            yield encodeSseJson({
              request_id: requestId,
              choices: [],
              usage: cached ? { ...usage, prompt_tokens_details: cached } : usage,
            });
          }
          yield SSE_DONE_FRAME;
        };
        return sseResponse(c, frames(), () => controller.abort());
      }
      const whole = await collectOutputs(outputs, c.req.raw.signal, controller);
      if (!whole) throw new RequestError("Client disconnected", 499);
      const { tokenIds: tokens, last } = whole;
      return json(
        vllmGenerateResponse(
          { requestId, model, created: Math.floor(Date.now() / 1000) },
          [
            {
              finishReason: finish(last, request).finishReason,
              tokenIds: tokens,
              logprobs: n === undefined ? null : vllmTokenLogprobs(whole.logprobs, n),
            },
          ],
          vllmUsage(req.token_ids.length, last.completionTokens, cachedOf(last)),
          handOff(request, role),
        ),
      );
    }),
  );

  app.get("/v1/models", () =>
    json(
      vllmModelList(
        {
          id: config.servedModelName,
          root: config.model,
          maxModelLen: driver.engine.config.maxModelLen,
          created,
          permissionId: `modelperm-${deps.engineId.replaceAll("-", "")}`,
        },
        config.loras,
      ),
    ),
  );
  // vLLM's /health: 200 with an empty body while the engine lives; 503 once it is shutting down.
  app.get("/health", () => new Response(null, { status: deps.draining() ? 503 : 200 }));
  app.get("/version", () => json({ version: SIMULATED_VLLM_VERSION }));
  // vLLM serves its development endpoints, /reset_prefix_cache among them, only with VLLM_SERVER_DEV_MODE=1.
  if (process.env.VLLM_SERVER_DEV_MODE === "1")
    app.post("/reset_prefix_cache", () =>
      driver.resetPrefixCache()
        ? new Response(null, { status: 200 })
        : json(vllmError("Failed to reset prefix cache: requests are running", 400, "BadRequestError"), 400),
    );
  app.get(
    "/metrics",
    async () =>
      new Response(await deps.metricsText(), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      }),
  );
  app.notFound(() => json({ detail: "Not Found" }, 404));
  return app;
}
