/**
 * Length of the longest suffix of `text` that is a proper prefix of one of `patterns`: text a streaming
 * matcher must hold back because the next chunk may complete a pattern.
 */
export function partialMatchLength(text: string, patterns: readonly string[]): number {
  let longest = 0;
  for (const pattern of patterns) {
    const max = Math.min(pattern.length - 1, text.length);
    for (let len = max; len > longest; len--) {
      if (text.endsWith(pattern.slice(0, len))) {
        longest = len;
        break;
      }
    }
  }
  return longest;
}
