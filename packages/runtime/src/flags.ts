/** One command-line flag: `--name`, with an optional environment fallback and default. */
export interface FlagSpec {
  /** Kebab-case name without dashes, e.g. `nats-server`. */
  name: string;
  type: "string" | "number" | "boolean" | "list";
  default?: unknown;
  /** Environment variables consulted, in order, when the flag is not on the command line. */
  env?: string | string[];
  help: string;
  choices?: string[];
}

export type FlagValues = Record<string, unknown>;

/** A bad command line or environment value; the message is meant for the user. */
export class FlagError extends Error {
  override name = "FlagError";
}

/** Thrown by parseFlags when `--help` or `-h` is given; the caller prints formatHelp and exits 0. */
export class HelpRequested extends Error {
  override name = "HelpRequested";
  constructor() {
    super("help requested");
  }
}

const TRUE_WORDS = new Set(["1", "true", "yes", "on"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off", ""]);

/**
 * Parses `argv` against `specs`. Precedence: command line, then the spec's environment variables, then its
 * default. Accepts `--x v`, `--x=v`, `--x`/`--no-x` for booleans, and for lists several values after one flag
 * and/or the flag repeated. Values are keyed by flag name; flags with no value and no default are absent.
 */
export function parseFlags(
  specs: readonly FlagSpec[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): FlagValues {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const fromArgv = new Map<string, unknown>();
  const unknownFlag = (arg: string) =>
    new FlagError(
      `unknown flag '${arg}'; valid flags: ${[...byName.keys()].map((n) => `--${n}`).join(", ")}`,
    );

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--help" || arg === "-h") throw new HelpRequested();
    if (!arg.startsWith("--")) throw new FlagError(`unexpected argument '${arg}' (flags start with --)`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    let spec = byName.get(name);

    if (!spec && name.startsWith("no-")) {
      spec = byName.get(name.slice(3));
      if (spec?.type !== "boolean" || inline !== undefined) throw unknownFlag(arg);
      fromArgv.set(spec.name, false);
      continue;
    }
    if (!spec) throw unknownFlag(arg);

    if (spec.type === "boolean") {
      fromArgv.set(spec.name, inline === undefined ? true : parseBoolean(spec, inline));
      continue;
    }
    if (spec.type === "list") {
      const items = inline === undefined ? [] : [inline];
      while (inline === undefined && i + 1 < argv.length && !isFlag(argv[i + 1] as string))
        items.push(argv[++i] as string);
      if (items.length === 0) throw new FlagError(`--${spec.name} needs at least one value`);
      for (const item of items) checkChoice(spec, item);
      const previous = fromArgv.get(spec.name);
      fromArgv.set(spec.name, [...(Array.isArray(previous) ? previous : []), ...items]);
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || isFlag(next)) throw new FlagError(`--${spec.name} needs a value`);
      raw = next;
      i++;
    }
    fromArgv.set(spec.name, parseScalar(spec, raw));
  }

  const values: FlagValues = {};
  for (const spec of specs) {
    if (fromArgv.has(spec.name)) {
      values[spec.name] = fromArgv.get(spec.name);
      continue;
    }
    const envValue = envValueOf(spec, env);
    if (envValue !== undefined) {
      values[spec.name] = parseFromEnv(spec, envValue.name, envValue.value);
    } else if (spec.default !== undefined) {
      values[spec.name] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
    } else if (spec.type === "list") {
      values[spec.name] = [];
    }
  }
  return values;
}

/** Help text: usage line, summary, and one entry per flag with its type, default, choices and env variables. */
export function formatHelp(command: string, summary: string, specs: readonly FlagSpec[]): string {
  const heads = specs.map((spec) => {
    if (spec.type === "boolean") return `--[no-]${spec.name}`;
    const placeholder = spec.choices ? spec.choices.join("|") : spec.type;
    return spec.type === "list" ? `--${spec.name} <${placeholder}>...` : `--${spec.name} <${placeholder}>`;
  });
  const width = Math.max("-h, --help".length, ...heads.map((head) => head.length));
  const lines = specs.map((spec, i) => {
    const notes: string[] = [];
    if (spec.default !== undefined && !(Array.isArray(spec.default) && spec.default.length === 0)) {
      notes.push(`default: ${Array.isArray(spec.default) ? spec.default.join(" ") : String(spec.default)}`);
    }
    const envNames = envNamesOf(spec);
    if (envNames.length > 0) notes.push(`env: ${envNames.join(", ")}`);
    const suffix = notes.length > 0 ? ` [${notes.join("; ")}]` : "";
    return `  ${(heads[i] as string).padEnd(width)}  ${spec.help}${suffix}`;
  });
  lines.push(`  ${"-h, --help".padEnd(width)}  Show this help`);
  return `Usage: ${command} [flags]\n\n${summary}\n\nFlags:\n${lines.join("\n")}\n`;
}

function isFlag(arg: string): boolean {
  return arg.startsWith("--") || arg === "-h";
}

function envNamesOf(spec: FlagSpec): string[] {
  if (spec.env === undefined) return [];
  return typeof spec.env === "string" ? [spec.env] : spec.env;
}

function envValueOf(spec: FlagSpec, env: NodeJS.ProcessEnv): { name: string; value: string } | undefined {
  for (const name of envNamesOf(spec)) {
    const value = env[name];
    if (value !== undefined && value !== "") return { name, value };
  }
  return undefined;
}

function parseFromEnv(spec: FlagSpec, envName: string, raw: string): unknown {
  try {
    if (spec.type === "boolean") return parseBoolean(spec, raw);
    if (spec.type === "list") {
      const items = raw.split(/[\s,]+/).filter(Boolean);
      for (const item of items) checkChoice(spec, item);
      return items;
    }
    return parseScalar(spec, raw);
  } catch (error) {
    throw new FlagError(`${envName}: ${(error as Error).message}`);
  }
}

function parseScalar(spec: FlagSpec, raw: string): string | number {
  if (spec.type === "number") {
    const value = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(value))
      throw new FlagError(`--${spec.name} needs a number, got '${raw}'`);
    return value;
  }
  checkChoice(spec, raw);
  return raw;
}

function parseBoolean(spec: FlagSpec, raw: string): boolean {
  const word = raw.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new FlagError(`--${spec.name} needs true or false, got '${raw}'`);
}

function checkChoice(spec: FlagSpec, value: string): void {
  if (spec.choices && !spec.choices.includes(value)) {
    throw new FlagError(`--${spec.name} must be one of ${spec.choices.join(", ")}; got '${value}'`);
  }
}
