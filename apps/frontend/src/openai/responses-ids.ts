import { base62 } from "../anthropic/ids.js";

/** A Responses API id, `resp_` and the request id's letters and digits (the response names its request). */
export function responseId(requestId: string): string {
  const compact = requestId.replace(/[^0-9A-Za-z]/g, "");
  return `resp_${compact || base62(32)}`;
}

/**
 * Item ids by kind, with OpenAI's prefixes: `msg_` (message), `fc_` (function call), `rs_` (reasoning); `fco_`
 * for a function call's output given as input without an id.
 */
export function itemId(kind: "msg" | "fc" | "fco" | "rs"): string {
  return `${kind}_${base62(32)}`;
}

/** A function call's `call_id`, as OpenAI's: `call_` and 24 characters. */
export function callId(): string {
  return `call_${base62(24)}`;
}
