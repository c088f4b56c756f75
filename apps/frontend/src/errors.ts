import { ServingError } from "@kvasir/serving";
import type { ContentfulStatusCode, UnofficialStatusCode } from "hono/utils/http-status";

/** nginx's "client closed request": logged and counted, never sent (the client is gone). Hono's way to type it. */
export const CLIENT_CLOSED = 499 as UnofficialStatusCode;

/** OpenAI's error object; every failure reaches the client in this shape. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** Anthropic's error object, for `/v1/messages`. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string };
}

// As Anthropic's API (and Dynamo's mapping of it).
const anthropicTypeOfStatus: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  405: "invalid_request_error",
  429: "rate_limit_error",
  408: "timeout_error",
  413: "request_too_large",
  503: "overloaded_error",
};

const typeOfStatus: Record<number, string> = {
  400: "invalid_request_error",
  404: "not_found_error",
  408: "timeout",
  413: "invalid_request_error",
  499: "request_cancelled",
  500: "internal_server_error",
  503: "service_unavailable",
  504: "timeout",
};

/** An error meant for the client: its HTTP status and OpenAI error fields. */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = "HttpError";
  }

  toBody(): OpenAIErrorBody {
    return {
      error: {
        message: this.message,
        type: typeOfStatus[this.status] ?? "internal_server_error",
        param: this.param,
        code: this.code,
      },
    };
  }

  toAnthropicBody(): AnthropicErrorBody {
    return {
      type: "error",
      error: { type: anthropicTypeOfStatus[this.status] ?? "api_error", message: this.message },
    };
  }
}

export const badRequest = (message: string, param: string | null = null) =>
  new HttpError(400, message, "invalid_request", param);
export const modelNotFound = (model: string) =>
  new HttpError(404, `The model '${model}' does not exist.`, "model_not_found", "model");
export const timedOut = (seconds: number) =>
  new HttpError(504, `The request did not finish within ${seconds} s.`, "request_timeout");
export const clientClosed = () =>
  new HttpError(CLIENT_CLOSED, "The client closed the request.", "client_closed_request");
export const bodyTimedOut = (seconds: number) =>
  new HttpError(408, `The request body did not arrive within ${seconds} s.`, "request_timeout");
export const bodyTooLarge = (limit: number) =>
  new HttpError(413, `The request body is larger than ${limit} bytes.`, "request_too_large");

/** Serving failures keep their status and code; anything else becomes a 500 without internals leaking. */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof ServingError)
    return new HttpError(error.status, error.message, error.code, error.param);
  return new HttpError(500, "Internal error while serving the request.", "internal_error");
}
