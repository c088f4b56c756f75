// SGLang's native HTTP API as the simulator serves it: POST /generate with input_ids (streamed output cumulative,
// as SGLang's tokenizer manager sends it, or incremental with --incremental-streaming-output), POST /abort_request,
// /health and /health_generate (503 while starting or shutting down), /get_model_info, /server_info (and the
// older /get_server_info), /v1/models, and /metrics with --enable-metrics. Shapes: engine-wire's SGLang types
// (managers/io_struct.py, managers/tokenizer_manager.py, entrypoints/http_server.py).
import { randomUUID } from "node:crypto";
import {
  encodeSseJson,
  type SglangFinishReason,
  type SglangServerInfo,
  SSE_DONE_FRAME,
  sglangError,
  sglangGenerateOutput,
  sglangLogprobFields,
  sglangMetaInfo,
  type WireTokenLogprob,
} from "@kvasir/engine-wire";
import type { EngineRequest } from "@kvasir/mocker";
import type { Logger } from "@kvasir/telemetry";
import { Hono } from "hono";
import { z } from "zod";
import type { SimulatorConfig } from "./config.js";
import { collectOutputs, type EngineDriver, type RequestOutput, wireLogprobs } from "./engine-driver.js";
import { json, jsonBody, sseResponse } from "./http-util.js";

/** The version /server_info reports: the SGLang release line whose protocol the simulator follows. */
export const SIMULATED_SGLANG_VERSION = "0.5.10";

export interface SglangApiDeps {
  config: SimulatorConfig;
  driver: EngineDriver;
  metricsText: () => Promise<string>;
  log: Logger;
  ready: () => boolean;
  draining: () => boolean;
}

const tokenIds = z.array(z.number().int().min(0));
const generateSchema = z.looseObject({
  text: z.unknown().optional(),
  input_ids: z.union([tokenIds.min(1), z.array(tokenIds.min(1))]).optional(),
  sampling_params: z
    .looseObject({
      max_new_tokens: z.number().int().min(0).nullish(),
      min_new_tokens: z.number().int().min(0).optional(),
      stop_token_ids: tokenIds.nullish(),
      temperature: z.number().min(0).optional(),
      ignore_eos: z.boolean().optional(),
      n: z.number().int().optional(),
      sampling_seed: z.number().int().nullish(),
    })
    .optional(),
  rid: z.string().optional(),
  stream: z.boolean().optional(),
  return_logprob: z.boolean().nullish(),
  top_logprobs_num: z.number().int().min(0).nullish(),
  lora_path: z.string().nullish(),
  priority: z.number().int().nullish(),
  bootstrap_host: z.string().nullish(),
  bootstrap_port: z.number().int().nullish(),
  bootstrap_room: z.number().int().nullish(),
  routed_dp_rank: z.number().int().nullish(),
  extra_key: z.string().nullish(),
});

class RequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export function sglangApp(deps: SglangApiDeps): Hono {
  const { config, driver } = deps;
  const created = Math.floor(Date.now() / 1000);
  const app = new Hono();

  const finishReason = (output: RequestOutput, maxNew: number): SglangFinishReason | null => {
    switch (output.finishReason) {
      case undefined:
        return null;
      case "length":
        return { type: "length", length: maxNew };
      case "cancelled":
        return { type: "abort", message: "Aborted by /abort_request", status_code: null, err_type: null };
      default: {
        // The EOS or stop token id that ended the reply (SGLang's FINISH_MATCHED_TOKEN).
        return { type: "stop", matched: output.tokenIds.at(-1) ?? null };
      }
    }
  };

  const guard = async (run: () => Promise<Response>): Promise<Response> => {
    try {
      return await run();
    } catch (error) {
      if (error instanceof RequestError) return json(sglangError(error.message), error.status);
      deps.log.error("request failed", { error: String(error) });
      return json(sglangError(String(error)), 500);
    }
  };

  app.post("/generate", (c) =>
    guard(async () => {
      if (deps.draining()) throw new RequestError("The server is shutting down.", 503);
      const body = await jsonBody(c);
      if (body instanceof Error) throw new RequestError(body.message);
      const parsed = generateSchema.safeParse(body);
      if (!parsed.success) {
        throw new RequestError(
          parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
        );
      }
      const req = parsed.data;
      const ids = req.input_ids;
      if (ids === undefined) {
        throw new RequestError("the engine simulator has no tokenizer: send input_ids, not text");
      }
      const prompt =
        typeof ids[0] === "number" ? ids.flatMap((x) => (typeof x === "number" ? [x] : [])) : undefined;
      if (!prompt || prompt.length !== ids.length)
        throw new RequestError("the engine simulator takes one prompt per request");
      const sp = req.sampling_params ?? {};
      if ((sp.n ?? 1) !== 1) throw new RequestError("the engine simulator runs n=1 only");
      const maxLen = driver.engine.config.maxModelLen;
      if (prompt.length >= maxLen) {
        throw new RequestError(
          `Input length (${prompt.length} tokens) exceeds the maximum allowed length (${maxLen} tokens). Use a shorter input or enable --allow-auto-truncate.`,
        );
      }
      let maxNew = sp.max_new_tokens ?? 128;
      if (prompt.length + maxNew > maxLen) {
        throw new RequestError(
          `Requested token count exceeds the model's maximum context length of ${maxLen} tokens. You requested a total of ${prompt.length + maxNew} tokens: ${prompt.length} tokens from the input messages and ${maxNew} tokens for the completion. Please reduce the number of tokens in the input messages or the completion to fit within the limit.`,
        );
      }
      const lora = req.lora_path ?? "";
      if (lora && !config.loras.includes(lora)) {
        throw new RequestError(`LoRA adapter ${lora} is not loaded (--lora-paths ${config.loras.join(" ")})`);
      }
      let external = 0;
      if (config.disaggregationMode !== "null") {
        if (req.bootstrap_room == null || req.bootstrap_host == null) {
          throw new RequestError(
            `--disaggregation-mode ${config.disaggregationMode} needs bootstrap_host and bootstrap_room in the request`,
          );
        }
        // The prefill server computes the prompt and its first token; the decode server gets the KV from it.
        if (config.disaggregationMode === "prefill") maxNew = Math.min(maxNew, 1);
        else external = prompt.length - 1;
      }
      if (maxNew === 0) maxNew = 1;
      const rid = req.rid ?? randomUUID().replaceAll("-", "");
      // Output logprobs in meta_info, and the top `top_logprobs_num` at each position when above 0.
      const topN = req.return_logprob ? (req.top_logprobs_num ?? 0) : undefined;
      const request: EngineRequest = {
        requestId: rid,
        tokenIds: prompt,
        maxTokens: maxNew,
        ...(sp.ignore_eos === undefined ? {} : { ignoreEos: sp.ignore_eos }),
        ...(sp.stop_token_ids ? { stopTokenIds: sp.stop_token_ids } : {}),
        ...(sp.min_new_tokens === undefined ? {} : { minTokens: sp.min_new_tokens }),
        ...(sp.sampling_seed == null ? {} : { seed: sp.sampling_seed }),
        ...(sp.temperature === undefined ? {} : { temperature: sp.temperature }),
        ...(topN === undefined ? {} : { logprobs: topN }),
        // SGLang admits higher values first (the mocker's order) with --enable-priority-scheduling.
        priority: config.priorityScheduling ? (req.priority ?? 0) : 0,
        ...(req.routed_dp_rank == null ? {} : { dpRank: req.routed_dp_rank }),
        ...(lora ? { loraName: lora } : {}),
        ...(req.extra_key ? { cacheSalt: req.extra_key } : {}),
        ...(external > 0 ? { externalComputedTokens: external } : {}),
      };
      const invalid = driver.validate(request);
      if (invalid !== undefined) throw new RequestError(invalid);
      const started = performance.now();
      const controller = new AbortController();
      const outputs = driver.generate(request, controller.signal);
      const meta = (output: RequestOutput, done: boolean, logprobs: readonly WireTokenLogprob[]) =>
        sglangMetaInfo({
          id: rid,
          finishReason: finishReason(output, maxNew),
          promptTokens: output.promptTokens,
          completionTokens: output.completionTokens,
          cachedTokens: output.cachedTokens,
          ...(topN === undefined ? {} : { logprobs: sglangLogprobFields(logprobs, topN) }),
          ...(done ? { e2eLatency: (performance.now() - started) / 1000 } : {}),
        });
      if (req.stream) {
        const frames = async function* () {
          const all: number[] = [];
          // SGLang reads its logprob lists off the request's accumulated state (tokenizer_manager.py): cumulative.
          const logprobs: WireTokenLogprob[] = [];
          for await (const output of outputs) {
            all.push(...output.tokenIds);
            logprobs.push(...wireLogprobs(output));
            const done = output.finishReason !== undefined;
            if (output.tokenIds.length === 0 && !done) continue;
            const ids = config.incrementalStreaming ? output.tokenIds : [...all];
            yield encodeSseJson(sglangGenerateOutput("", ids, meta(output, done, logprobs)));
          }
          yield SSE_DONE_FRAME;
        };
        return sseResponse(c, frames(), () => controller.abort());
      }
      const whole = await collectOutputs(outputs, c.req.raw.signal, controller);
      if (!whole) throw new RequestError("Client disconnected", 499);
      return json(sglangGenerateOutput("", whole.tokenIds, meta(whole.last, true, whole.logprobs)));
    }),
  );

  app.post("/abort_request", (c) =>
    guard(async () => {
      const body = await jsonBody(c);
      const parsed = z
        .looseObject({ rid: z.string().optional(), abort_all: z.boolean().optional() })
        .safeParse(body);
      if (!parsed.success) throw new RequestError("abort_request takes {rid} or {abort_all: true}");
      if (parsed.data.abort_all) driver.abortAll(true);
      else if (parsed.data.rid) driver.abort(parsed.data.rid, true);
      return new Response(null, { status: 200 });
    }),
  );

  // SGLang answers 503 while the server is starting (warm-up) and once it shuts down.
  const health = () => new Response(null, { status: deps.ready() && !deps.draining() ? 200 : 503 });
  app.get("/health", health);
  app.get("/health_generate", health);
  // SGLang's /flush_cache answers 200 when the cache was flushed and 400 while requests run.
  const flush = () =>
    driver.resetPrefixCache()
      ? new Response("Cache flushed.\n", { status: 200 })
      : new Response("Cache not flushed because there are pending requests.\n", { status: 400 });
  app.get("/flush_cache", flush);
  app.post("/flush_cache", flush);

  app.get("/get_model_info", () =>
    json({
      model_path: config.model,
      tokenizer_path: config.model,
      is_generation: true,
      preferred_sampling_params: null,
      weight_version: "default",
      has_image_understanding: false,
      has_audio_understanding: false,
    }),
  );
  const serverInfo = (): SglangServerInfo => {
    const engine = driver.engine.config;
    const ranks = driver.loadMetrics();
    return {
      model_path: config.model,
      served_model_name: config.servedModelName,
      host: config.host,
      port: config.port,
      page_size: engine.blockSize,
      context_length: engine.maxModelLen,
      max_running_requests: engine.maxNumSeqs,
      chunked_prefill_size: engine.enableChunkedPrefill ? engine.maxNumBatchedTokens : -1,
      disable_radix_cache: !engine.enablePrefixCaching,
      dp_size: engine.dataParallelSize,
      disaggregation_mode: config.disaggregationMode,
      disaggregation_bootstrap_port: config.bootstrapPort,
      kv_events_config: config.kvEvents ? JSON.stringify(config.kvEvents) : null,
      internal_states: ranks.map((r) => ({
        max_total_num_tokens: engine.numGpuBlocks * engine.blockSize,
        num_running_reqs: r.numRequestsRunning,
        num_queue_reqs: r.numRequestsWaiting,
      })),
      version: SIMULATED_SGLANG_VERSION,
    };
  };
  app.get("/server_info", () => json(serverInfo()));
  app.get("/get_server_info", () => json(serverInfo()));
  app.get("/v1/models", () =>
    json({
      object: "list",
      data: [config.servedModelName, ...config.loras].map((id) => ({
        id,
        object: "model",
        created,
        owned_by: "sglang",
        root: id === config.servedModelName ? config.model : id,
        max_model_len: driver.engine.config.maxModelLen,
      })),
    }),
  );
  if (config.metrics) {
    app.get(
      "/metrics",
      async () =>
        new Response(await deps.metricsText(), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        }),
    );
  }
  app.notFound(() => json({ detail: "Not Found" }, 404));
  return app;
}
