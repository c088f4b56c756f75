// Routing failures in the client's terms: a full router queue sheds with 503 (load shedding, never a hang), as does
// having no worker, whether the router is embedded (KvRouter errors) or remote (Connect codes).
import { Code, ConnectError } from "@connectrpc/connect";
import { NoWorkersError, QueueFullError, RouterClosedError } from "@kvasir/kv";
import { HttpError, noWorker } from "./errors.js";

export function routingError(error: unknown, model: string): unknown {
  if (error instanceof QueueFullError) return new HttpError(503, error.message, "queue_full");
  if (error instanceof NoWorkersError) return noWorker(model);
  if (error instanceof RouterClosedError) return new HttpError(503, error.message, "shutting_down");
  if (error instanceof ConnectError && error.code === Code.ResourceExhausted) {
    return new HttpError(503, error.rawMessage, "queue_full");
  }
  if (error instanceof ConnectError && error.code === Code.Unavailable) {
    return new HttpError(503, error.rawMessage, "no_worker_available");
  }
  return error;
}
