// The Responses API's output: a response object with output items (reasoning, message, function_call), and when
// streamed the typed events around them, each with a sequence_number. Shapes from the `openai` npm package's
// `Response`, `ResponseOutputItem` and `ResponseStreamEvent` types.
import {
  type ChatOutputDelta,
  ChatOutputParser,
  type ChatOutputParserOptions,
  type ChatTemplateMessage,
  promptOpensReasoning,
  type ResponsesRequest,
  type ToolCall,
} from "@kvasir/llm";
import type { EngineUsage } from "@kvasir/serving";
import type { HttpError } from "../errors.js";
import { Frame, NamedEvent } from "../sse.js";
import type { TextStep } from "../text-generation.js";
import type { ParserChoice } from "./chat.js";
import { ForcedToolOutput } from "./forced-tool-output.js";
import type { OutputFormat } from "./generation.js";
import type { ChatTokenLogprob, LogprobRenderer } from "./logprobs.js";
import type { ResponseHeader } from "./responses.js";
import { callId, itemId } from "./responses-ids.js";
import type { ForcedToolChoice } from "./structured.js";

type Status = "in_progress" | "completed" | "incomplete" | "failed";

interface OutputText {
  type: "output_text";
  text: string;
  annotations: never[];
  logprobs: ChatTokenLogprob[];
}
interface ReasoningText {
  type: "reasoning_text";
  text: string;
}
type OutputItem =
  | { type: "message"; id: string; role: "assistant"; status: Status; content: OutputText[] }
  | { type: "reasoning"; id: string; status: Status; summary: never[]; content: ReasoningText[] }
  | { type: "function_call"; id: string; call_id: string; name: string; arguments: string; status: Status };

/** What the format needs of the request, besides the header. */
export interface ResponsesContext {
  body: ResponsesRequest;
  parsers: ParserChoice;
  prompt: string;
  promptTokens: number;
  /** Tokens of a text (the usage's reasoning_tokens). */
  countTokens(text: string): number;
  /** A forced tool choice: the output is the constraint's JSON, read back as function calls. */
  forced?: ForcedToolChoice;
  /** `include: ["message.output_text.logprobs"]`: the output text's token logprobs (OpenAI's chat shape). */
  logprobs?: LogprobRenderer;
  /** Called once with the finished response and its output as chat messages (to store it). */
  onDone(response: Record<string, unknown>, output: ChatTemplateMessage): void;
}

export function responseUsage(usage: EngineUsage, reasoningTokens: number) {
  return {
    input_tokens: usage.promptTokens,
    input_tokens_details: { cached_tokens: usage.cachedTokens },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: reasoningTokens },
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}

/** The response object's request-derived fields (the same on every snapshot of one response). */
function requestFields(body: ResponsesRequest) {
  const tools = (body.tools ?? []).map((tool) =>
    tool.type === "function"
      ? {
          type: "function",
          name: tool.name,
          description: tool.description ?? null,
          parameters: tool.parameters ?? null,
          strict: tool.strict ?? true,
        }
      : { type: tool.tool_type },
  );
  return {
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: null },
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: { format: body.text?.format ?? { type: "text" } },
    tool_choice: body.tool_choice ?? "auto",
    tools,
    top_p: body.top_p ?? 1,
    truncation: "disabled",
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
}

/**
 * Builds the output items from parsed text as it arrives, emitting the stream's events: an item is added, its
 * content part added, deltas, then the part and the item are done when another kind of output starts or the
 * response ends.
 */
class OutputBuilder {
  readonly items: OutputItem[] = [];
  readonly events: NamedEvent[] = [];
  #sequence = 0;
  #open: Extract<OutputItem, { type: "message" | "reasoning" }> | undefined;

  event(type: string, data: Record<string, unknown>): void {
    this.events.push(new NamedEvent(type, { type, sequence_number: this.#sequence++, ...data }));
  }

  take(): NamedEvent[] {
    return this.events.splice(0);
  }

  /**
   * Adds parsed output. `logprobs` are those of tokens not yet placed: they go with the message text when there
   * is some (all of them, when a step also ends reasoning: a token is not split), else they are dropped with
   * reasoning or a tool call, which carry no logprobs.
   */
  push(parsed: ChatOutputDelta, logprobs: ChatTokenLogprob[] = []): void {
    if (parsed.reasoningContent) this.#append("reasoning", parsed.reasoningContent);
    if (parsed.content) this.#append("message", parsed.content, logprobs);
    for (const call of parsed.toolCalls) this.#functionCall(call);
  }

  /** Ends the open item; `status` is the message's (incomplete when the output was cut by max_output_tokens). */
  close(status: Status = "completed"): void {
    const item = this.#open;
    if (!item) return;
    this.#open = undefined;
    const output_index = this.items.indexOf(item);
    const part = item.content[0];
    if (!part) return;
    const at = { item_id: item.id, output_index, content_index: 0 };
    if (item.type === "message") {
      this.event("response.output_text.done", {
        ...at,
        text: part.text,
        logprobs: item.content[0]?.logprobs ?? [],
      });
    } else {
      this.event("response.reasoning_text.done", { ...at, text: part.text });
    }
    this.event("response.content_part.done", { ...at, part });
    item.status = item.type === "message" ? status : "completed";
    this.event("response.output_item.done", { output_index, item });
  }

  #append(type: "message" | "reasoning", text: string, logprobs: ChatTokenLogprob[] = []): void {
    if (this.#open?.type !== type) {
      this.close();
      const item: OutputItem =
        type === "message"
          ? { type, id: itemId("msg"), role: "assistant", status: "in_progress", content: [] }
          : { type, id: itemId("rs"), status: "in_progress", summary: [], content: [] };
      this.items.push(item);
      this.#open = item;
      const output_index = this.items.length - 1;
      this.event("response.output_item.added", { output_index, item: { ...item, content: [] } });
      const part: OutputText | ReasoningText =
        type === "message"
          ? { type: "output_text", text: "", annotations: [], logprobs: [] }
          : { type: "reasoning_text", text: "" };
      this.event("response.content_part.added", { item_id: item.id, output_index, content_index: 0, part });
    }
    const item = this.#open;
    if (!item) return;
    const output_index = this.items.length - 1;
    const at = { item_id: item.id, output_index, content_index: 0 };
    if (item.type === "message") {
      const part = item.content[0] ?? { type: "output_text", text: "", annotations: [], logprobs: [] };
      part.text += text;
      part.logprobs.push(...logprobs);
      item.content[0] = part;
      this.event("response.output_text.delta", { ...at, delta: text, logprobs });
    } else {
      const part = item.content[0] ?? { type: "reasoning_text", text: "" };
      part.text += text;
      item.content[0] = part;
      this.event("response.reasoning_text.delta", { ...at, delta: text });
    }
  }

  #functionCall(call: ToolCall): void {
    this.close();
    const item: OutputItem = {
      type: "function_call",
      id: itemId("fc"),
      call_id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
      status: "completed",
    };
    this.items.push(item);
    const output_index = this.items.length - 1;
    this.event("response.output_item.added", {
      output_index,
      item: { ...item, arguments: "", status: "in_progress" },
    });
    const at = { item_id: item.id, output_index };
    this.event("response.function_call_arguments.delta", { ...at, delta: item.arguments });
    this.event("response.function_call_arguments.done", {
      ...at,
      name: item.name,
      arguments: item.arguments,
    });
    this.event("response.output_item.done", { output_index, item });
  }
}

/** The response's output as one assistant chat message (its turn in a stored conversation). */
function assistantMessage(items: readonly OutputItem[]): ChatTemplateMessage {
  const message: ChatTemplateMessage = { role: "assistant", content: "" };
  let reasoning = "";
  const calls: { id: string; type: "function"; function: { name: string; arguments: string } }[] = [];
  for (const item of items) {
    if (item.type === "message") message.content += item.content.map((p) => p.text).join("");
    else if (item.type === "reasoning") reasoning += item.content.map((p) => p.text).join("");
    else
      calls.push({
        id: item.call_id,
        type: "function",
        function: { name: item.name, arguments: item.arguments },
      });
  }
  if (reasoning) message.reasoning_content = reasoning;
  if (calls.length > 0) message.tool_calls = calls;
  return message;
}

/** `POST /v1/responses` output, streamed (typed events) or whole (the response object). */
export function responsesFormat(header: ResponseHeader, context: ResponsesContext): OutputFormat {
  const options: ChatOutputParserOptions = { ...context.parsers };
  if (context.parsers.reasoningParser) options.promptOpensReasoning = promptOpensReasoning(context.prompt);
  const parser = context.forced
    ? new ForcedToolOutput(context.forced, callId)
    : new ChatOutputParser(options);
  const out = new OutputBuilder();
  const fields = requestFields(context.body);

  const snapshot = (status: Status, output: OutputItem[], extra: Record<string, unknown> = {}) => ({
    id: header.id,
    object: "response",
    created_at: header.created,
    status,
    error: null,
    incomplete_details: null,
    model: header.model,
    output,
    usage: null,
    ...fields,
    ...extra,
  });

  // Logprobs of tokens whose text the parser holds back (a possible tag), until it is placed.
  let pendingLogprobs: ChatTokenLogprob[] = [];
  const logprobsOf = (step: TextStep) => context.logprobs?.chat(step.tokenIds, step.logprobs) ?? [];
  /** Parses a step's text and places it with its tokens' logprobs. */
  const place = (step: TextStep, text: string, last: boolean) => {
    pendingLogprobs.push(...logprobsOf(step));
    const parsed = parse(text, last);
    if (parsed.content) {
      out.push(parsed, pendingLogprobs);
      pendingLogprobs = [];
    } else {
      if (parsed.reasoningContent || parsed.toolCalls.length > 0) pendingLogprobs = [];
      out.push(parsed);
    }
  };
  // A non-streamed answer with logprobs is parsed step by step (collect), as a stream is, to place them.
  let collected = false;

  const parse = (text: string, last: boolean): ChatOutputDelta => {
    const parsed = parser.push(text);
    if (last) {
      const rest = parser.flush();
      parsed.reasoningContent += rest.reasoningContent;
      parsed.content += rest.content;
      parsed.toolCalls.push(...rest.toolCalls);
    }
    return parsed;
  };

  /** The finished response: status, usage, and the response stored when asked to. */
  const finish = (last: TextStep) => {
    const incomplete = last.finishReason === "length";
    out.close(incomplete ? "incomplete" : "completed");
    const reasoning = out.items
      .flatMap((item) => (item.type === "reasoning" ? item.content.map((p) => p.text) : []))
      .join("");
    const status: Status = incomplete ? "incomplete" : "completed";
    const response = snapshot(status, out.items, {
      incomplete_details: incomplete ? { reason: "max_output_tokens" } : null,
      usage: responseUsage(last.usage, reasoning ? context.countTokens(reasoning) : 0),
      ...(incomplete ? {} : { completed_at: Math.floor(Date.now() / 1000) }),
    });
    context.onDone(response, assistantMessage(out.items));
    return response;
  };

  return {
    doneMarker: false,
    start() {
      const created = snapshot("in_progress", []);
      out.event("response.created", { response: created });
      out.event("response.in_progress", { response: created });
      return out.take();
    },
    step(step) {
      const last = step.finishReason !== undefined;
      place(step, step.text, last);
      if (last) {
        const response = finish(step);
        const type = response.status === "incomplete" ? "response.incomplete" : "response.completed";
        out.event(type, { response });
      }
      return out.take();
    },
    ...(context.logprobs
      ? {
          collect(step: TextStep) {
            collected = true;
            place(step, step.text, step.finishReason !== undefined);
          },
        }
      : {}),
    complete(text, last) {
      if (!collected) out.push(parse(text, true));
      const response = finish(last);
      out.take();
      return response;
    },
    // One frame holding both events OpenAI sends on a failure: `error`, then `response.failed`.
    error(failure: HttpError) {
      const { message, code, param } = failure.toBody().error;
      out.event("error", { code, message, param });
      out.event("response.failed", {
        response: snapshot("failed", out.items, { error: { code: "server_error", message } }),
      });
      return new Frame(
        out
          .take()
          .map((e) => `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`)
          .join(""),
      );
    },
  };
}
