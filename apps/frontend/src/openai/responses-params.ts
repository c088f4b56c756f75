// Parameters a Responses client may send that this server cannot honour, refused with OpenAI's 400 instead of
// dropped (dropping any of them would change the answer the client expects). Other unknown fields stay ignored,
// as vLLM ignores them, so clients that send newer fields keep working.
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
  const include = Array.isArray(fields.include) ? fields.include : [];
  if (
    include.includes("message.output_text.logprobs") ||
    (typeof fields.top_logprobs === "number" && fields.top_logprobs > 0)
  ) {
    throw unsupported(
      include.includes("message.output_text.logprobs") ? "include" : "top_logprobs",
      "Logprobs are not served on /v1/responses by this server; use /v1/chat/completions with 'logprobs'.",
    );
  }
}
