// Serving failures in one vocabulary, with one table to each edge: the frontend answers them as HTTP statuses in
// OpenAI's or Anthropic's shape, the router's Connect service as Connect codes.
import { Code, ConnectError } from "@connectrpc/connect";
import { NoWorkersError, QueueFullError, RouterClosedError } from "@kvasir/kv";

export type ServingErrorCode =
  | "invalid_request"
  | "model_not_found"
  | "no_worker_available"
  | "overloaded"
  | "queue_full"
  | "worker_failed"
  | "no_indexer_available"
  | "shutting_down";

const edges: Record<ServingErrorCode, { status: 400 | 404 | 503; connect: Code }> = {
  invalid_request: { status: 400, connect: Code.InvalidArgument },
  model_not_found: { status: 404, connect: Code.NotFound },
  no_worker_available: { status: 503, connect: Code.Unavailable },
  overloaded: { status: 503, connect: Code.ResourceExhausted },
  queue_full: { status: 503, connect: Code.ResourceExhausted },
  worker_failed: { status: 503, connect: Code.Unavailable },
  no_indexer_available: { status: 503, connect: Code.Unavailable },
  shutting_down: { status: 503, connect: Code.Unavailable },
};

/** A failure of the serving layer that the caller is told about as it is. */
export class ServingError extends Error {
  override name = "ServingError";
  constructor(
    readonly code: ServingErrorCode,
    message: string,
    options?: { cause?: unknown; param?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    if (options?.param !== undefined) this.param = options.param;
  }

  /** The request field at fault, for OpenAI's `param`. */
  readonly param?: string;

  get status(): 400 | 404 | 503 {
    return edges[this.code].status;
  }

  toConnectError(): ConnectError {
    return new ConnectError(this.message, edges[this.code].connect, undefined, undefined, this);
  }
}

export const noWorker = (model: string) =>
  new ServingError("no_worker_available", `No worker is serving '${model}' right now.`);
export const overloaded = (model: string) =>
  new ServingError("overloaded", `Every worker serving '${model}' is busy; try again later.`);

/**
 * A router's failure (an embedded KvRouter's errors or a remote router's Connect codes) as a ServingError: a full
 * queue sheds, no worker is unavailable. Anything else is returned unchanged.
 */
export function routingError(error: unknown, model: string): unknown {
  if (error instanceof QueueFullError) return new ServingError("queue_full", error.message, { cause: error });
  if (error instanceof NoWorkersError) return noWorker(model);
  if (error instanceof RouterClosedError)
    return new ServingError("shutting_down", error.message, { cause: error });
  if (error instanceof ConnectError && error.code === Code.ResourceExhausted)
    return new ServingError("queue_full", error.rawMessage, { cause: error });
  if (error instanceof ConnectError && error.code === Code.Unavailable)
    return new ServingError("no_worker_available", error.rawMessage, { cause: error });
  return error;
}

/** Errors that say the request itself is wrong, so another worker would refuse it too: never retried. */
export function isRequestError(error: unknown): boolean {
  if (error instanceof ServingError) return error.code === "invalid_request";
  return (
    error instanceof ConnectError && (error.code === Code.InvalidArgument || error.code === Code.OutOfRange)
  );
}

/** Any failure as a ConnectError, for Connect services. */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ServingError) return error.toConnectError();
  const routed = routingError(error, "");
  if (routed instanceof ServingError) return routed.toConnectError();
  return ConnectError.from(error);
}
