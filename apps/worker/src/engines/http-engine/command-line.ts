// The engine's command line: the user's `--engine-command` split as a POSIX shell would split it (quotes,
// backslashes; no expansion), read for the flags the adapter must know, and completed with the flags it needs.

/** Splits a command string into argv: single quotes literal, double quotes with `\"`/`\\`, backslash escapes. */
export function splitCommand(command: string): string[] {
  const args: string[] = [];
  let current = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < command.length; i++) {
    const c = command.charAt(i);
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else current += c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && i + 1 < command.length && '"\\$`'.includes(command.charAt(i + 1))) {
        current += command.charAt(++i);
      } else current += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < command.length) {
      current += command.charAt(++i);
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) args.push(current);
      current = "";
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in the engine command`);
  if (inWord) args.push(current);
  if (args.length === 0) throw new Error("the engine command is empty");
  return args;
}

/** Quotes argv back into one line for logs and docs (single quotes where needed). */
export function joinCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(" ");
}

/**
 * The value of a flag in argv (`--name value` or `--name=value`, under any of its spellings); the last one wins,
 * as in argparse. `true` for a flag present without a value (followed by another flag or nothing).
 */
export function flagValue(argv: readonly string[], names: readonly string[]): string | true | undefined {
  let found: string | true | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    for (const name of names) {
      if (arg === name) {
        const next = argv[i + 1];
        found = next === undefined || next.startsWith("--") ? true : next;
      } else if (arg.startsWith(`${name}=`)) found = arg.slice(name.length + 1);
    }
  }
  return found;
}

/** Whether argv holds any of the flags (with or without a value, or as its `--no-` form). */
export function hasFlag(argv: readonly string[], names: readonly string[]): boolean {
  return argv.some((arg) =>
    names.some((name) => {
      const negated = `--no-${name.slice(2)}`;
      return arg === name || arg.startsWith(`${name}=`) || arg === negated;
    }),
  );
}

/** An integer flag's value, or undefined; throws when it is there but not an integer. */
export function intFlag(argv: readonly string[], names: readonly string[]): number | undefined {
  const v = flagValue(argv, names);
  if (v === undefined) return undefined;
  const n = v === true ? Number.NaN : Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${names[0]} in the engine command must be an integer`);
  return n;
}

/** A JSON-object flag's value, or undefined; throws when it is there but not a JSON object. */
export function jsonFlag(
  argv: readonly string[],
  names: readonly string[],
): Record<string, unknown> | undefined {
  const v = flagValue(argv, names);
  if (v === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = v === true ? undefined : JSON.parse(v);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new Error(`${names[0]} in the engine command must be a JSON object`);
  return Object.fromEntries(Object.entries(parsed));
}

/**
 * The model an engine command serves: `vllm serve MODEL`, `--model MODEL` (vLLM) or `--model-path MODEL`
 * (SGLang); what the worker names its model after when given no name.
 */
export function engineModelOf(argv: readonly string[]): string | undefined {
  const serve = argv.indexOf("serve");
  const positional = serve >= 0 ? argv[serve + 1] : undefined;
  if (positional && !positional.startsWith("-")) return positional;
  const flag = flagValue(argv, ["--model", "--model-path"]);
  return typeof flag === "string" ? flag : undefined;
}

/**
 * Leading `NAME=value` words, as a shell reads them: the command's own environment (`CUDA_VISIBLE_DEVICES=1 vllm
 * serve ...` pins a worker's engine to a GPU). Returns them and the command after them.
 */
export function leadingEnv(argv: readonly string[]): { env: Record<string, string>; argv: string[] } {
  const env: Record<string, string> = {};
  let i = 0;
  for (; i < argv.length - 1; i++) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(argv[i] ?? "");
    if (!match?.[1]) break;
    env[match[1]] = match[2] ?? "";
  }
  return { env, argv: argv.slice(i) };
}
