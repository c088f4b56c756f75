import { randomBytes } from "node:crypto";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `n` random base-62 characters (the alphabet of Anthropic's ids, e.g. `msg_01XFDUDYJgAACzvnptvVoYEL`). */
export function base62(n: number): string {
  const bytes = randomBytes(n);
  let out = "";
  // 248 = 4 * 62: bytes at or above it are skipped so every character is equally likely.
  for (let i = 0; out.length < n; i++) {
    const byte = i < bytes.length ? (bytes[i] ?? 0) : (randomBytes(1)[0] ?? 0);
    if (byte < 248) out += BASE62[byte % 62];
  }
  return out;
}

/**
 * A Messages API id, `msg_` and the request id's letters and digits: clients that check the prefix accept it, and
 * it still names the request in logs (the `request-id` header carries the id itself).
 */
export function anthropicMessageId(requestId: string): string {
  const compact = requestId.replace(/[^0-9A-Za-z]/g, "");
  return `msg_${compact || base62(24)}`;
}

/** A `tool_use` block id, as Anthropic's: `toolu_` and 24 base-62 characters. */
export function toolUseId(): string {
  return `toolu_${base62(24)}`;
}
