/** Subject of a component's KV cache events. */
export function kvEventsSubject(namespace: string, component: string): string {
  return `kvasir.${namespace}.${component}.kv_events`;
}

/** Subject of a component's load metrics. */
export function loadMetricsSubject(namespace: string, component: string): string {
  return `kvasir.${namespace}.${component}.load_metrics`;
}

/**
 * NATS subject matching: tokens are separated by `.`, `*` matches exactly one token and `>` (last token only)
 * matches one or more remaining tokens.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const want = pattern.split(".");
  const have = subject.split(".");
  for (let i = 0; i < want.length; i++) {
    const token = want[i];
    if (token === ">") return i === want.length - 1 && have.length > i;
    if (i >= have.length) return false;
    if (token !== "*" && token !== have[i]) return false;
  }
  return want.length === have.length;
}

/** Throws unless `subject` is a valid NATS subject (or, with `wildcards`, subscription pattern). */
export function assertSubject(subject: string, wildcards: boolean): void {
  const tokens = subject.split(".");
  tokens.forEach((token, i) => {
    if (token === "" || /\s/.test(token))
      throw new Error(`invalid subject '${subject}': empty token or whitespace`);
    if (!wildcards && (token === "*" || token === ">")) {
      throw new Error(`invalid subject '${subject}': wildcards are only allowed when subscribing`);
    }
    if (token === ">" && i !== tokens.length - 1)
      throw new Error(`invalid subject '${subject}': '>' must be last`);
  });
}
