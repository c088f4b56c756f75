import { type ChatTemplateMessage, type ResponsesRequest, validateResponsesRequest } from "@kvasir/llm";
import type { Hono, MiddlewareHandler } from "hono";
import { badRequest, HttpError } from "../errors.js";
import type { ServeGeneration } from "../generation-routes.js";
import type { ServedModel } from "../model-registry.js";
import { type Preprocessor, tokenizeChat } from "../preprocessor.js";
import type { AppEnv } from "../request-scope.js";
import type { ParserChoice } from "./chat.js";
import { LogprobRenderer } from "./logprobs.js";
import { prepare } from "./prepare.js";
import { conversationOf, inputItemsOf, type ResponseStore } from "./response-store.js";
import { responsesFormat } from "./responses-format.js";
import { chatFields, inputMessages } from "./responses-input.js";
import { listPage, toListedItems } from "./responses-items.js";
import { refuseUnsupportedResponsesParams, responsesLogprobs } from "./responses-params.js";
import { forcedToolChoice, responseFormatConstraint, toolChoiceConstraint } from "./structured.js";

export const RESPONSES_PATH = "/v1/responses";

export interface ResponsesRouteDeps {
  serve: ServeGeneration;
  parsers: ParserChoice;
  store: ResponseStore;
}

/** A validated Responses request and the logprobs it asks for (alternatives per token), outside the schema. */
type ResponsesBody = ResponsesRequest & { logprobs?: number };

function validateResponses(body: unknown): ResponsesBody {
  refuseUnsupportedResponsesParams(body);
  const logprobs = responsesLogprobs(body);
  const result = validateResponsesRequest(body);
  if (!result.ok) {
    const { message, code, param } = result.error.error;
    throw new HttpError(400, message, code, param);
  }
  return logprobs === undefined ? result.value : { ...result.value, logprobs };
}

// Chat's field names in the refusals of the preparation Responses shares with chat, as the Responses API names them.
const RESPONSES_PARAMS: [RegExp, string][] = [
  [/^max_tokens$/, "max_output_tokens"],
  [/^response_format/, "text.format"],
  [/^tools\[(\d+)\]\.function\./, "tools[$1]."],
  [/^messages/, "input"],
];

function inResponsesTerms(error: unknown): unknown {
  if (!(error instanceof HttpError) || error.param === null) return error;
  let param = error.param;
  for (const [chat, responses] of RESPONSES_PARAMS) param = param.replace(chat, responses);
  return param === error.param ? error : new HttpError(error.status, error.message, error.code, param);
}

const notFound = (id: string) => new HttpError(404, `Response with id '${id}' not found.`, "not_found", "id");

/** OpenAI's Responses API: `POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`, its `input_items`. */
export function addResponsesRoutes(
  app: Hono<AppEnv>,
  deps: ResponsesRouteDeps,
  bodyLimit: MiddlewareHandler<AppEnv>,
): void {
  const { serve, store, parsers } = deps;

  app.post(RESPONSES_PATH, bodyLimit, (c) =>
    serve(c, "responses", validateResponses, (body, model, pre, signal) =>
      prepareResponse(body, model, pre, signal).catch((error: unknown) => {
        throw inResponsesTerms(error);
      }),
    ),
  );

  async function prepareResponse(
    body: ResponsesBody,
    model: ServedModel<Preprocessor>,
    pre: Preprocessor,
    signal: AbortSignal,
  ) {
    const previousId = body.previous_response_id ?? undefined;
    const previous = previousId === undefined ? undefined : store.get(previousId);
    if (previousId !== undefined && !previous) {
      throw new HttpError(
        400,
        `Previous response with id '${previousId}' not found.`,
        "previous_response_not_found",
        "previous_response_id",
      );
    }
    const turn = inputMessages(body.input);
    // Instructions are this request's only: a previous response's instructions are not carried over (as OpenAI).
    const messages: ChatTemplateMessage[] = [
      ...(body.instructions ? [{ role: "system", content: body.instructions }] : []),
      ...conversationOf(previous),
      ...turn,
    ];
    if (messages.length === 0) throw badRequest("The input has no messages.", "input");
    const fields = chatFields(body);
    const input = {
      messages,
      addGenerationPrompt: true,
      ...(fields.tools ? { tools: fields.tools } : {}),
      ...(body.reasoning?.effort === "none" ? { kwargs: { enable_thinking: false } } : {}),
    };
    const { prompt, tokenIds } = await tokenizeChat(pre, input, {
      contextLength: model.card.contextLength,
      signal,
    });
    const sampling = {
      model: body.model,
      max_tokens: body.max_output_tokens,
      temperature: body.temperature,
      top_p: body.top_p,
      stream: body.stream,
      ignore_eos: body.ignore_eos,
      nvext: body.nvext,
      ...fields,
    };
    const prepared = prepare(sampling, model, pre.tokenizer.eosTokenIds, tokenIds);
    // Rendered as chat's (stop tokens such as EOS left out), on the output_text parts.
    let logprobs: LogprobRenderer | undefined;
    if (body.logprobs !== undefined) {
      prepared.params.logprobs = body.logprobs;
      const stops = new Set(prepared.detokenizer.stopTokenIds ?? []);
      logprobs = new LogprobRenderer(pre.tokenizer, (id) => stops.has(id));
    }
    // As a chat request: a forced tool choice, else text.format, becomes the engine's guided-decoding constraint.
    const forced = forcedToolChoice(fields.tool_choice);
    if (forced && fields.tools) {
      if (fields.response_format && fields.response_format.type !== "text") {
        throw badRequest("'text.format' cannot be combined with a forced 'tool_choice'.", "text.format");
      }
      const parallel = fields.parallel_tool_calls ?? true;
      prepared.params.structuredOutputs = toolChoiceConstraint(fields.tools, forced, parallel);
    } else {
      const constraint = responseFormatConstraint(fields.response_format);
      if (constraint) prepared.params.structuredOutputs = constraint;
    }
    return {
      prepared,
      format: (header: { id: string; created: number; model: string }) =>
        responsesFormat(header, {
          body,
          parsers,
          prompt,
          promptTokens: tokenIds.length,
          countTokens: (text) => pre.tokenizer.encode(text, { addSpecialTokens: false }).length,
          ...(forced && fields.tools ? { forced } : {}),
          ...(logprobs ? { logprobs } : {}),
          onDone(response, output) {
            if (body.store === false) return;
            store.put(header.id, {
              response,
              turn: [...turn, output],
              inputItems: toListedItems(body.input),
              ...(previous ? { parent: previous } : {}),
            });
          },
        }),
    };
  }

  app.get(`${RESPONSES_PATH}/:id`, (c) => {
    const id = c.req.param("id");
    const stored = store.get(id);
    if (!stored) throw notFound(id);
    return c.json(stored.response);
  });

  app.get(`${RESPONSES_PATH}/:id/input_items`, (c) => {
    const id = c.req.param("id");
    const stored = store.get(id);
    if (!stored) throw notFound(id);
    const { limit, order, after, before } = c.req.query();
    return c.json(listPage(inputItemsOf(stored), { limit, order, after, before }));
  });

  app.delete(`${RESPONSES_PATH}/:id`, (c) => {
    const id = c.req.param("id");
    if (!store.delete(id)) throw notFound(id);
    return c.json({ id, object: "response.deleted", deleted: true });
  });
}
