// The shared service token of the Connect plane: every internal client sends it, every server checks it.
import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

export const SERVICE_TOKEN_HEADER = "authorization";
const PREFIX = "Bearer ";

const digest = (value: string): Buffer => createHash("sha256").update(value).digest();

/** True when `given` equals one of `expected`, in time independent of where they differ (equal-length digests). */
export function tokenMatches(given: string | undefined | null, expected: readonly string[]): boolean {
  if (!given) return false;
  const got = digest(given);
  let match = false;
  // Every key is compared, so the time does not tell which one matched.
  for (const key of expected) if (timingSafeEqual(got, digest(key))) match = true;
  return match;
}

/** Adds `authorization: Bearer <token>` to every call. */
export function serviceTokenClientInterceptor(token: string): Interceptor {
  return (next) => (request) => {
    request.header.set(SERVICE_TOKEN_HEADER, `${PREFIX}${token}`);
    return next(request);
  };
}

/** Refuses (UNAUTHENTICATED) every call without the token. */
export function serviceTokenServerInterceptor(token: string): Interceptor {
  const expected = [token];
  return (next) => (request) => {
    const header = request.header.get(SERVICE_TOKEN_HEADER);
    const given = header?.startsWith(PREFIX) ? header.slice(PREFIX.length) : undefined;
    if (!tokenMatches(given, expected))
      throw new ConnectError("missing or wrong service token (--service-token)", Code.Unauthenticated);
    return next(request);
  };
}
