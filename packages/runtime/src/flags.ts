/** What a flag takes on the command line. */
export type FlagType = "string" | "number" | "boolean" | "list";

/** One command-line flag, keyed by its name in a definition (see defineFlags). */
export interface FlagDef {
  type: FlagType;
  help: string;
  default?: string | number | boolean | readonly string[];
  /** Environment variables consulted, in order, when the flag is not on the command line. */
  env?: string | readonly string[];
  choices?: readonly string[];
  /** Other spellings accepted with the same meaning (Dynamo's engine-specific names, e.g. `page-size`). */
  aliases?: readonly string[];
  /** Numbers only: must be a whole number. */
  integer?: boolean;
  /** Numbers only: smallest value accepted. */
  min?: number;
  /** Numbers only: largest value accepted. */
  max?: number;
  /** Numbers only: must be above zero. */
  positive?: boolean;
  /** For docs/flags.md: `true` when Dynamo has this flag under the same name, else Dynamo's spelling; absent: Kvasir only. */
  dynamo?: true | string;
  /** For docs/flags.md: how and why this flag deliberately differs from Dynamo's. */
  differs?: string;
}

/** A FlagDef with its kebab-case name (without dashes, e.g. `nats-server`). */
export interface FlagSpec extends FlagDef {
  name: string;
}

/**
 * A Dynamo flag (or variable) a command does not take, with the message that tells the user what to use
 * instead. parseFlags consults these before reporting an unknown flag.
 */
export interface RefusedFlag {
  /** Flag name without dashes. */
  name: string;
  /** Environment variables with the same meaning, refused when set. */
  env?: readonly string[];
  /** Names the Kvasir equivalent, or says Kvasir does not have it yet and which issue covers it. */
  message: string;
  /**
   * For a Dynamo switch: the setting Kvasir always has, accepted (and ignored) on the command line (`--x` or
   * `--x=true` for "on", `--no-x` or `--x=false` for "off") and in its variables; only the other one is refused.
   */
  accepts?: "on" | "off";
}

export type FlagDefs = Readonly<Record<string, FlagDef>>;
export type FlagValues = Record<string, unknown>;

type Choice<D> = D extends { choices: readonly (infer C extends string)[] } ? C : string;
/** The parsed type of one flag: its choices when it has any. */
export type FlagValue<D extends FlagDef> = D["type"] extends "number"
  ? number
  : D["type"] extends "boolean"
    ? boolean
    : D["type"] extends "list"
      ? Choice<D>[]
      : Choice<D>;
/** Flags with a default (and lists, which default to []) always have a value. */
type AlwaysSet<D> = D extends { default: unknown } ? true : D extends { type: "list" } ? true : false;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
/** Parsed values of a definition, keyed by flag name; optional when the flag has no default. */
export type FlagValuesOf<Ds extends FlagDefs> = Simplify<
  { -readonly [K in keyof Ds as AlwaysSet<Ds[K]> extends true ? K : never]: FlagValue<Ds[K]> } & {
    -readonly [K in keyof Ds as AlwaysSet<Ds[K]> extends true ? never : K]?: FlagValue<Ds[K]>;
  }
>;

/** A typed set of flags: its specs for parseFlags and help, and a reader that types parsed values. */
export interface FlagSet<Ds extends FlagDefs> {
  readonly defs: Ds;
  readonly specs: FlagSpec[];
  readonly refused: RefusedFlag[];
  /** Parses argv and env against these flags alone. */
  parse(argv: readonly string[], env: NodeJS.ProcessEnv): FlagValuesOf<Ds>;
  /**
   * Types values parsed with these flags (or a superset of them): fills defaults for absent flags, checks each
   * value's type and limits, and throws FlagError on a mismatch.
   */
  read(values: FlagValues): FlagValuesOf<Ds>;
}

/**
 * Defines flags whose parsed values are typed by inference. Compose fragments by spreading their `defs`:
 * `defineFlags({ ...serverFlags.defs, "x": { type: "number", default: 1, help: "..." } })`.
 */
export function defineFlags<const Ds extends FlagDefs>(
  defs: Ds,
  refused: readonly RefusedFlag[] = [],
): FlagSet<Ds> {
  const specs: FlagSpec[] = Object.entries(defs).map(([name, def]) => ({ name, ...def }));
  const read = (values: FlagValues): FlagValuesOf<Ds> => {
    const out: FlagValues = {};
    for (const spec of specs) {
      const value = values[spec.name] ?? defaultOf(spec);
      if (value !== undefined) out[spec.name] = checkedValue(spec, value);
    }
    // The checks above establish the mapped type, which TypeScript cannot follow through a loop.
    return out as FlagValuesOf<Ds>;
  };
  return {
    defs,
    specs,
    refused: [...refused],
    parse: (argv, env) => read(parseFlags(specs, argv, env, refused)),
    read,
  };
}

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
 * A flag or environment variable in `refused` fails with its message.
 */
export function parseFlags(
  specs: readonly FlagSpec[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  refused: readonly RefusedFlag[] = [],
): FlagValues {
  const byName = new Map<string, FlagSpec>();
  for (const spec of specs) byName.set(spec.name, spec);
  for (const spec of specs)
    for (const alias of spec.aliases ?? []) if (!byName.has(alias)) byName.set(alias, spec);
  const refusedByName = new Map(refused.map((flag) => [flag.name, flag]));
  const fromArgv = new Map<string, unknown>();
  const unknownFlag = (arg: string, name: string) => {
    const why = refusedByName.get(name) ?? refusedByName.get(name.replace(/^no-/, ""));
    if (why) return new FlagError(`--${why.name} is not supported: ${why.message}`);
    return new FlagError(
      `unknown flag '${arg}'; valid flags: ${specs.map((spec) => `--${spec.name}`).join(", ")}`,
    );
  };
  /** Whether `--name[=inline]` is a refused switch set the way Kvasir always behaves. */
  const acceptedRefusal = (name: string, inline: string | undefined): boolean => {
    const negated = !refusedByName.has(name) && name.startsWith("no-");
    const flag = refusedByName.get(negated ? name.slice(3) : name);
    if (flag?.accepts === undefined) return false;
    const on = inline === undefined ? !negated : negated ? false : TRUE_WORDS.has(inline.toLowerCase());
    const off = inline === undefined ? negated : !negated && FALSE_WORDS.has(inline.toLowerCase());
    return flag.accepts === "on" ? on : off;
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--help" || arg === "-h") throw new HelpRequested();
    if (!arg.startsWith("--")) throw new FlagError(`unexpected argument '${arg}' (flags start with --)`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    let spec = byName.get(name);
    if (!spec && acceptedRefusal(name, inline)) continue;

    if (!spec && name.startsWith("no-")) {
      spec = byName.get(name.slice(3));
      if (spec?.type !== "boolean" || inline !== undefined) throw unknownFlag(arg, name);
      fromArgv.set(spec.name, false);
      continue;
    }
    if (!spec) throw unknownFlag(arg, name);

    if (spec.type === "boolean") {
      fromArgv.set(spec.name, inline === undefined ? true : parseBoolean(spec, inline));
      continue;
    }
    if (spec.type === "list") {
      const items = inline === undefined ? [] : [inline];
      for (
        let next = argv[i + 1];
        inline === undefined && next !== undefined && !isFlag(next);
        next = argv[i + 1]
      ) {
        items.push(next);
        i++;
      }
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

  for (const flag of refused) {
    for (const name of flag.env ?? []) {
      const value = env[name]?.toLowerCase();
      if (value === undefined || value === "") continue;
      if (flag.accepts === "on" && TRUE_WORDS.has(value)) continue;
      if (flag.accepts === "off" && FALSE_WORDS.has(value)) continue;
      throw new FlagError(`${name} is not supported: ${flag.message}`);
    }
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
      continue;
    }
    const fallback = defaultOf(spec);
    if (fallback !== undefined) values[spec.name] = fallback;
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
    const shown = formatDefault(spec);
    if (shown !== undefined) notes.push(`default: ${shown}`);
    const envNames = envNamesOf(spec);
    if (envNames.length > 0) notes.push(`env: ${envNames.join(", ")}`);
    if (spec.aliases?.length) notes.push(`also: ${spec.aliases.map((a) => `--${a}`).join(", ")}`);
    const suffix = notes.length > 0 ? ` [${notes.join("; ")}]` : "";
    return `  ${(heads[i] ?? "").padEnd(width)}  ${spec.help}${suffix}`;
  });
  lines.push(`  ${"-h, --help".padEnd(width)}  Show this help`);
  return `Usage: ${command} [flags]\n\n${summary}\n\nFlags:\n${lines.join("\n")}\n`;
}

/** The default as help and docs show it; undefined when there is none (or an empty list). */
export function formatDefault(spec: FlagSpec): string | undefined {
  const value = spec.default;
  if (value === undefined) return undefined;
  if (typeof value === "object") return value.length === 0 ? undefined : value.join(" ");
  return String(value);
}

export function envNamesOf(spec: FlagDef): readonly string[] {
  if (spec.env === undefined) return [];
  return typeof spec.env === "string" ? [spec.env] : spec.env;
}

function isFlag(arg: string): boolean {
  return arg.startsWith("--") || arg === "-h";
}

function defaultOf(spec: FlagSpec): unknown {
  if (spec.default === undefined) return spec.type === "list" ? [] : undefined;
  return typeof spec.default === "object" ? [...spec.default] : spec.default;
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
    throw new FlagError(`${envName}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function parseScalar(spec: FlagSpec, raw: string): string | number {
  if (spec.type === "number") {
    const value = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(value))
      throw new FlagError(`--${spec.name} needs a number, got '${raw}'`);
    checkLimits(spec, value);
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

function checkLimits(spec: FlagSpec, value: number): void {
  const fail = (what: string) => new FlagError(`--${spec.name} must be ${what}, got ${value}`);
  if (spec.integer && !Number.isInteger(value)) throw fail("a whole number");
  if (spec.positive && !(value > 0)) throw fail("positive");
  if (spec.min !== undefined && value < spec.min) throw fail(`at least ${spec.min}`);
  if (spec.max !== undefined && value > spec.max) throw fail(`at most ${spec.max}`);
}

/** The value itself when it fits the spec's type, choices and limits; FlagError otherwise. */
function checkedValue(spec: FlagSpec, value: unknown): unknown {
  const wrongType = () =>
    new FlagError(
      `--${spec.name} needs a ${spec.type === "list" ? "list of strings" : spec.type}, got ${JSON.stringify(value)}`,
    );
  switch (spec.type) {
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) throw wrongType();
      checkLimits(spec, value);
      return value;
    case "boolean":
      if (typeof value !== "boolean") throw wrongType();
      return value;
    case "string":
      if (typeof value !== "string") throw wrongType();
      checkChoice(spec, value);
      return value;
    case "list": {
      if (!Array.isArray(value)) throw wrongType();
      const items: string[] = [];
      for (const item of value) {
        if (typeof item !== "string") throw wrongType();
        checkChoice(spec, item);
        items.push(item);
      }
      return items;
    }
  }
}
