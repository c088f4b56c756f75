// Parameters of a Responses request beyond the validated schema: those this server cannot honour, refused with
// OpenAI's 400 instead of dropped (dropping any of them would change the answer the client expects), and the
// logprobs ask (`include` and `top_logprobs`). Other unknown fields stay ignored, as vLLM ignores them, so clients
// that send newer fields keep working.
import { HttpError } from "../errors.js";

/** Chat completions parameters that are not the Responses API's: OpenAI answers them as unknown. */
const NOT_RESPONSES_PARAMS = ["n", "best_of", "logprobs"];

const present = (value: unknown) => value !== undefined && value !== null;

/** Throws OpenAI's 400 for the first parameter of `body` this server does not serve on /v1/responses. */
export function refuseUnsupportedResponsesParams(body: unknown): void {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return;
  const fields: Record<string, unknown> = { ...body };
  for (const name of NOT_RESPONSES_PARAMS) {
    if (present(fields[name]))
      throw new HttpError(400, `Unknown parameter: '${name}'.`, "unknown_parameter", name);
  }
  const unsupported = (param: string, message: string, code = "unsupported_parameter") =>
    new HttpError(400, message, code, param);
  if (fields.background === true) {
    throw unsupported(
      "background",
      "Background responses are not supported by this server; leave 'background' unset.",
      "unsupported_value",
    );
  }
  if (present(fields.conversation)) {
    throw unsupported(
      "conversation",
      "Conversations are not supported by this server; continue a conversation with 'previous_response_id'.",
    );
  }
  if (present(fields.prompt))
    throw unsupported("prompt", "Stored prompt templates are not supported by this server; send 'input'.");
  if (fields.truncation === "auto") {
    throw unsupported(
      "truncation",
      "truncation 'auto' is not supported by this server: a conversation longer than the context is refused, not cut; use 'disabled'.",
      "unsupported_value",
    );
  }
}

/** The `include` entry that asks for the output text's logprobs. */
export const INCLUDE_LOGPROBS = "message.output_text.logprobs";

/**
 * The alternatives per token a request asks for with `include: ["message.output_text.logprobs"]` and
 * `top_logprobs` (0..20, as OpenAI); undefined when it asks for no logprobs.
 */
export function responsesLogprobs(body: unknown): number | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  const fields: Record<string, unknown> = { ...body };
  const top = fields.top_logprobs;
  if (
    top !== undefined &&
    top !== null &&
    !(Number.isInteger(top) && Number(top) >= 0 && Number(top) <= 20)
  ) {
    throw new HttpError(
      400,
      "Invalid value for 'top_logprobs': expected an integer between 0 and 20.",
      "invalid_value",
      "top_logprobs",
    );
  }
  if (!Array.isArray(fields.include) || !fields.include.includes(INCLUDE_LOGPROBS)) return undefined;
  return typeof top === "number" ? top : 0;
}
