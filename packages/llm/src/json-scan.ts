/**
 * Index just past the JSON object or array that opens at `from` (`{` or `[`), or -1 while it is incomplete.
 * Brackets inside strings are skipped; nothing is validated (JSON.parse does that once the value is whole).
 * Streaming tool parsers use it to tell when a call's JSON has fully arrived.
 */
export function jsonValueEnd(text: string, from = 0): number {
  let depth = 0;
  let inString = false;
  for (let i = from; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++;
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x7b || ch === 0x5b) depth++;
    else if (ch === 0x7d || ch === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
      if (depth < 0) return -1;
    }
  }
  return -1;
}

/** JSON.parse that answers undefined for text that is not JSON. */
export function tryParseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}
