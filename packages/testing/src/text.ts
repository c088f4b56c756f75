/**
 * Words of random letters, deterministic: each is new to a tokenizer's cache, so megabytes of it take seconds to
 * tokenize, as a large pasted document can (the frontend's big-prompt test and `pnpm bench:big-prompt`).
 */
export function gibberish(chars: number): string {
  let seed = 7;
  const parts: string[] = [];
  let length = 0;
  while (length < chars) {
    const size = 3 + (seed % 8);
    let word = "";
    for (let i = 0; i < size; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      word += String.fromCharCode(97 + (seed % 26));
    }
    parts.push(word);
    length += size + 1;
  }
  return parts.join(" ").slice(0, chars);
}
