// Pure pieces of `pnpm bench:frontend --num-processes`: reading the list of process counts, naming why a request
// failed, and printing the failure counts in one table cell.

/** `--num-processes 1,2`: distinct positive integers, in the order given; throws a message naming the bad entry. */
export function parseProcessCounts(text: string): number[] {
  const counts: number[] = [];
  for (const entry of text.split(",").map((part) => part.trim())) {
    if (!/^[1-9][0-9]*$/.test(entry)) {
      throw new Error(
        `--num-processes takes a comma-separated list of positive integers, got '${entry}' in '${text}'`,
      );
    }
    const n = Number(entry);
    if (counts.includes(n)) throw new Error(`--num-processes lists ${n} twice in '${text}'`);
    counts.push(n);
  }
  return counts;
}

/** A short, countable reason: a socket error's code (ECONNRESET) when it has one, else the error's message. */
export function failureReason(error: unknown): string {
  if (error instanceof Error) {
    const code = "code" in error ? error.code : undefined;
    if (typeof code === "string" && code !== "") return code;
    return error.message.split("\n")[0] || error.name;
  }
  return String(error);
}

/** `HTTP 503 ×3, ECONNRESET ×1` (most frequent first), or `none`. */
export function formatFailures(failures: Readonly<Record<string, number>>): string {
  const entries = Object.entries(failures).filter(([, count]) => count > 0);
  if (entries.length === 0) return "none";
  return entries
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([reason, count]) => `${reason} ×${count}`)
    .join(", ");
}
