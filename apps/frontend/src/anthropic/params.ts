// Parameters an Anthropic client may send that this server cannot honour, refused in Anthropic's error shape
// instead of dropped: other APIs' sampling fields (Anthropic itself refuses them as extra inputs), server-side
// MCP servers and containers, and Anthropic-hosted or Anthropic-defined tools (no input_schema to constrain to).
// Other unknown fields (newer beta fields a harness sends) stay ignored, so such clients keep working.
import { HttpError } from "../errors.js";

/** OpenAI-style fields a client may carry over: one answer, no logprobs, is not what it asked for. */
const NOT_ANTHROPIC_PARAMS = ["n", "logprobs", "top_logprobs", "best_of"];

const present = (value: unknown) => value !== undefined && value !== null;

/** Throws a 400 (Anthropic's `invalid_request_error` on these paths) for what this server does not serve. */
export function refuseUnsupportedMessagesParams(body: unknown): void {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return;
  const fields: Record<string, unknown> = { ...body };
  for (const name of NOT_ANTHROPIC_PARAMS) {
    // Anthropic's wording for a field it does not know.
    if (present(fields[name])) throw new HttpError(400, `${name}: Extra inputs are not permitted`);
  }
  const servers = fields.mcp_servers;
  if (Array.isArray(servers) ? servers.length > 0 : present(servers))
    throw new HttpError(400, "mcp_servers: MCP servers are not supported by this server");
  if (present(fields.container))
    throw new HttpError(400, "container: code execution containers are not supported by this server");
  const tools = Array.isArray(fields.tools) ? fields.tools : [];
  tools.forEach((tool: unknown, i) => {
    if (typeof tool !== "object" || tool === null || !("type" in tool)) return;
    const { type } = tool;
    if (typeof type === "string" && type !== "custom") {
      throw new HttpError(
        400,
        `tools.${i}: tools of type '${type}' are not supported by this server; define the tool with a name and an input_schema`,
      );
    }
  });
}
