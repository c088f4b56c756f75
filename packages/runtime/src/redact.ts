// One place that hides secrets before anything is printed: URL userinfo (`nats://user:pass@host`,
// `redis://:pass@host`, `nats://token@host`), bearer tokens, and the values of secret-named fields.

const MASK = "***";
// scheme://userinfo@ — userinfo runs to the last '@' of the authority (an unencoded '@' in a password included).
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/,]+)@/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;
const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|credential|nkey|seed|authorization/i;

/** A URL (or comma-separated list, or any text) with the password of each URL's userinfo masked. */
export function redactUrl(text: string): string {
  return text.replace(URL_USERINFO, (_all, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(":");
    // `user:pass` keeps the user (useful when debugging); a lone `token@` is the secret itself.
    return colon > 0 ? `${scheme}${userinfo.slice(0, colon)}:${MASK}@` : `${scheme}${MASK}@`;
  });
}

/** `text` with URL userinfo, `Bearer …` tokens and every given secret value masked. */
export function redactText(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = redactUrl(text).replace(BEARER, (_all, kind: string) => `${kind} ${MASK}`);
  for (const secret of secrets) if (secret && secret.length >= 4) out = out.split(secret).join(MASK);
  return out;
}

/** Log fields (or a config) with secret-named keys masked and URLs redacted, recursively. */
export function redactFields<T>(value: T, secrets: readonly (string | undefined)[] = []): T {
  return redactValue(value, secrets, 0) as T;
}

function redactValue(value: unknown, secrets: readonly (string | undefined)[], depth: number): unknown {
  if (typeof value === "string") return redactText(value, secrets);
  if (depth > 8 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, secrets, depth + 1));
  if (value instanceof Error) return redactText(value.message, secrets);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      SECRET_KEY.test(key) && typeof item === "string" && item !== ""
        ? MASK
        : redactValue(item, secrets, depth + 1);
  }
  return out;
}

/** The message of an error (or anything thrown), redacted. */
export function redactedError(error: unknown, secrets: readonly (string | undefined)[] = []): string {
  return redactText(error instanceof Error ? error.message : String(error), secrets);
}
