// An engine's HTTP error as the worker reports it: a 4xx is the request's fault (InvalidArgument, not retried on
// another worker), 429/503 mean "busy, try another" (ResourceExhausted), anything else is an engine failure.
import { EngineOverloaded, InvalidEngineRequest } from "../../engine.js";

export function engineRequestError(status: number, message: string): Error {
  if (status === 429 || status === 503) return new EngineOverloaded(message);
  if (status >= 400 && status < 500) return new InvalidEngineRequest(message);
  return new Error(message);
}
