/**
 * A small reader of Python literals, for tool calls written as Python (`[f(a=1, b="x")]`): strings in either
 * quote, numbers, True/False/None, lists, tuples and dicts. Anything else is a `SyntaxError`.
 */
export class PythonLiteralReader {
  #at = 0;

  constructor(private readonly text: string) {}

  /** `name=value, ...` up to the end of the text, as an object. */
  keywordArguments(): Record<string, unknown> {
    const args: Record<string, unknown> = {};
    this.#space();
    while (this.#at < this.text.length) {
      const name = /^[A-Za-z_]\w*/.exec(this.text.slice(this.#at))?.[0];
      if (!name) throw new SyntaxError(`expected an argument name at ${this.#at}`);
      this.#at += name.length;
      this.#space();
      this.#expect("=");
      args[name] = this.value();
      this.#space();
      if (this.text[this.#at] !== ",") break;
      this.#at++;
      this.#space();
    }
    if (this.#at !== this.text.length) throw new SyntaxError(`unexpected text at ${this.#at}`);
    return args;
  }

  value(): unknown {
    this.#space();
    const ch = this.text[this.#at];
    if (ch === '"' || ch === "'") return this.#string(ch);
    if (ch === "[") return this.#sequence("]");
    if (ch === "(") return this.#sequence(")");
    if (ch === "{") return this.#dict();
    const rest = this.text.slice(this.#at);
    const word = /^(True|False|None)\b/.exec(rest)?.[1];
    if (word) {
      this.#at += word.length;
      return word === "True" ? true : word === "False" ? false : null;
    }
    const number = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(rest)?.[0];
    if (number) {
      this.#at += number.length;
      return Number(number);
    }
    throw new SyntaxError(`unexpected ${ch === undefined ? "end" : `'${ch}'`} at ${this.#at}`);
  }

  #space(): void {
    while (/\s/.test(this.text[this.#at] ?? "")) this.#at++;
  }

  #expect(ch: string): void {
    if (this.text[this.#at] !== ch) throw new SyntaxError(`expected '${ch}' at ${this.#at}`);
    this.#at++;
  }

  #string(quote: string): string {
    this.#at++;
    let out = "";
    for (;;) {
      const ch = this.text[this.#at++];
      if (ch === undefined) throw new SyntaxError("unterminated string");
      if (ch === quote) return out;
      if (ch !== "\\") {
        out += ch;
        continue;
      }
      const esc = this.text[this.#at++];
      const simple: Record<string, string> = {
        n: "\n",
        t: "\t",
        r: "\r",
        "\\": "\\",
        "'": "'",
        '"': '"',
        "0": "\0",
      };
      if (esc !== undefined && esc in simple) out += simple[esc];
      else if (esc === "u" || esc === "x") {
        const len = esc === "u" ? 4 : 2;
        const hex = this.text.slice(this.#at, this.#at + len);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) throw new SyntaxError("bad escape");
        out += String.fromCharCode(Number.parseInt(hex, 16));
        this.#at += len;
      } else out += `\\${esc ?? ""}`;
    }
  }

  #sequence(close: string): unknown[] {
    this.#at++;
    const items: unknown[] = [];
    for (;;) {
      this.#space();
      if (this.text[this.#at] === close) {
        this.#at++;
        return items;
      }
      items.push(this.value());
      this.#space();
      if (this.text[this.#at] === ",") this.#at++;
      else if (this.text[this.#at] !== close) throw new SyntaxError(`expected '${close}' at ${this.#at}`);
    }
  }

  #dict(): Record<string, unknown> {
    this.#at++;
    const out: Record<string, unknown> = {};
    for (;;) {
      this.#space();
      if (this.text[this.#at] === "}") {
        this.#at++;
        return out;
      }
      const key = this.value();
      this.#space();
      this.#expect(":");
      out[String(key)] = this.value();
      this.#space();
      if (this.text[this.#at] === ",") this.#at++;
      else if (this.text[this.#at] !== "}") throw new SyntaxError(`expected '}' at ${this.#at}`);
    }
  }
}

/** Index just past the bracket that closes the one at `from` (strings skipped), or -1 while unclosed. */
export function pythonBracketEnd(text: string, from: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === "\\") i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "(" || ch === "[" || ch === "{") depth++;
    else if (ch === ")" || ch === "]" || ch === "}") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}
