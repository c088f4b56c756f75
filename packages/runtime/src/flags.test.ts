import { describe, expect, expectTypeOf, it } from "vitest";
import { defineFlags, FlagError, type FlagSpec, formatHelp, HelpRequested, parseFlags } from "./flags.js";

const specs: FlagSpec[] = [
  { name: "name", type: "string", default: "d", env: ["T_NAME", "T_NAME_ALT"], help: "a name" },
  { name: "mode", type: "string", default: "a", choices: ["a", "b"], help: "a mode" },
  { name: "count", type: "number", default: 1, env: "T_COUNT", help: "a count" },
  { name: "verbose", type: "boolean", default: false, env: "T_VERBOSE", help: "talk more" },
  { name: "cache", type: "boolean", default: true, help: "use the cache" },
  { name: "served", type: "list", default: [], env: "T_SERVED", help: "names" },
  { name: "path", type: "string", help: "no default" },
];

describe("parseFlags", () => {
  it("applies defaults, with lists empty and absent flags absent", () => {
    expect(parseFlags(specs, [], {})).toEqual({
      name: "d",
      mode: "a",
      count: 1,
      verbose: false,
      cache: true,
      served: [],
    });
  });

  it("accepts --x v, --x=v, bare booleans and --no-x", () => {
    const values = parseFlags(
      specs,
      ["--name", "n", "--count=3.5", "--verbose", "--no-cache", "--path=/p=q"],
      {},
    );
    expect(values).toMatchObject({ name: "n", count: 3.5, verbose: true, cache: false, path: "/p=q" });
    expect(parseFlags(specs, ["--verbose=false", "--cache=true"], {})).toMatchObject({
      verbose: false,
      cache: true,
    });
    expect(parseFlags(specs, ["--count", "-2"], {})).toMatchObject({ count: -2 });
  });

  it("collects lists from space-separated values and repeated flags", () => {
    expect(parseFlags(specs, ["--served", "a", "b", "--served", "c", "--count", "2"], {})).toMatchObject({
      served: ["a", "b", "c"],
      count: 2,
    });
    expect(parseFlags(specs, ["--served=x", "--served=y"], {})).toMatchObject({ served: ["x", "y"] });
  });

  it("prefers the command line over the environment over the default, trying env names in order", () => {
    const env = { T_NAME_ALT: "alt", T_COUNT: "7", T_VERBOSE: "yes", T_SERVED: "a,b c" };
    expect(parseFlags(specs, [], env)).toMatchObject({
      name: "alt",
      count: 7,
      verbose: true,
      served: ["a", "b", "c"],
    });
    expect(parseFlags(specs, [], { ...env, T_NAME: "first" })).toMatchObject({ name: "first" });
    expect(parseFlags(specs, ["--name", "cli", "--count", "8"], env)).toMatchObject({
      name: "cli",
      count: 8,
    });
    expect(parseFlags(specs, [], { T_NAME: "" })).toMatchObject({ name: "d" });
  });

  it("rejects unknown flags listing the valid ones", () => {
    expect(() => parseFlags(specs, ["--nmae", "x"], {})).toThrow(FlagError);
    expect(() => parseFlags(specs, ["--nmae", "x"], {})).toThrow(/--name, --mode, --count/);
    expect(() => parseFlags(specs, ["--no-name"], {})).toThrow(/unknown flag '--no-name'/);
  });

  it("rejects bad values, missing values, choices and stray arguments", () => {
    expect(() => parseFlags(specs, ["--count", "many"], {})).toThrow(/needs a number/);
    expect(() => parseFlags(specs, ["--count"], {})).toThrow(/needs a value/);
    expect(() => parseFlags(specs, ["--name", "--count", "1"], {})).toThrow(/needs a value/);
    expect(() => parseFlags(specs, ["--mode", "c"], {})).toThrow(/one of a, b/);
    expect(() => parseFlags(specs, ["--verbose=maybe"], {})).toThrow(/true or false/);
    expect(() => parseFlags(specs, ["--served"], {})).toThrow(/at least one/);
    expect(() => parseFlags(specs, ["stray"], {})).toThrow(/unexpected argument/);
    expect(() => parseFlags(specs, [], { T_COUNT: "x" })).toThrow(/T_COUNT/);
  });

  it("signals --help and -h", () => {
    expect(() => parseFlags(specs, ["--count", "1", "--help"], {})).toThrow(HelpRequested);
    expect(() => parseFlags(specs, ["-h"], {})).toThrow(HelpRequested);
  });
});

describe("formatHelp", () => {
  it("lists every flag with its default, choices and env variables", () => {
    const help = formatHelp("kvasir test", "Does a test.", specs);
    expect(help).toMatch(/^Usage: kvasir test \[flags\]\n\nDoes a test\.\n/);
    for (const spec of specs)
      expect(help).toContain(`--${spec.type === "boolean" ? "[no-]" : ""}${spec.name}`);
    expect(help).toContain("--mode <a|b>");
    expect(help).toContain("--served <list>...");
    expect(help).toMatch(/a name \[default: d; env: T_NAME, T_NAME_ALT\]/);
    expect(help).toContain("-h, --help");
  });
});

describe("defineFlags", () => {
  const flags = defineFlags(
    {
      port: { type: "number", default: 8000, integer: true, min: 0, max: 65535, help: "a port" },
      ratio: { type: "number", positive: true, help: "no default" },
      mode: { type: "string", default: "kv", choices: ["kv", "random"], env: "T_MODE", help: "a mode" },
      label: { type: "string", help: "no default" },
      fast: { type: "boolean", help: "no default" },
      cache: { type: "boolean", default: true, help: "a switch" },
      names: { type: "list", help: "names" },
      size: { type: "number", default: 16, aliases: ["block-size", "page-size"], help: "a size" },
    },
    [
      { name: "tensor-parallel-size", message: "no GPUs here" },
      { name: "load-aware", env: ["T_LOAD_AWARE"], message: "use --mode kv" },
    ],
  );

  it("infers each value's type: choices as unions, optional without a default", () => {
    const values = flags.parse([], {});
    expectTypeOf(values.port).toEqualTypeOf<number>();
    expectTypeOf(values.ratio).toEqualTypeOf<number | undefined>();
    expectTypeOf(values.mode).toEqualTypeOf<"kv" | "random">();
    expectTypeOf(values.label).toEqualTypeOf<string | undefined>();
    expectTypeOf(values.fast).toEqualTypeOf<boolean | undefined>();
    expectTypeOf(values.cache).toEqualTypeOf<boolean>();
    expectTypeOf(values.names).toEqualTypeOf<string[]>();
    expect(values).toEqual({ port: 8000, mode: "kv", cache: true, names: [], size: 16 });
  });

  it("keeps parseFlags' precedence and spellings", () => {
    expect(
      flags.parse(["--port=9000", "--no-cache", "--names", "a", "b", "--fast"], { T_MODE: "random" }),
    ).toEqual({
      port: 9000,
      mode: "random",
      cache: false,
      fast: true,
      names: ["a", "b"],
      size: 16,
    });
    expect(flags.parse(["--mode", "kv"], { T_MODE: "random" }).mode).toBe("kv");
  });

  it("accepts aliases with the same meaning, keyed by the flag's own name", () => {
    expect(flags.parse(["--page-size", "64"], {}).size).toBe(64);
    expect(flags.parse(["--block-size=32"], {}).size).toBe(32);
    expect(formatHelp("t", "T.", flags.specs)).toContain("also: --block-size, --page-size");
  });

  it("checks limits with a FlagError naming the flag", () => {
    expect(() => flags.parse(["--port", "8000.5"], {})).toThrow(/--port must be a whole number/);
    expect(() => flags.parse(["--port", "70000"], {})).toThrow(/--port must be at most 65535/);
    expect(() => flags.parse(["--port", "-1"], {})).toThrow(FlagError);
    expect(() => flags.parse(["--ratio", "0"], {})).toThrow(/--ratio must be positive/);
    expect(() => flags.parse([], { T_MODE: "fast" })).toThrow(/T_MODE: --mode must be one of kv, random/);
  });

  it("refuses a listed flag, its --no- form and its env variable with the table's message", () => {
    expect(() => flags.parse(["--tensor-parallel-size", "8"], {})).toThrow(
      "--tensor-parallel-size is not supported: no GPUs here",
    );
    expect(() => flags.parse(["--no-load-aware"], {})).toThrow(
      /--load-aware is not supported: use --mode kv/,
    );
    expect(() => flags.parse([], { T_LOAD_AWARE: "true" })).toThrow(
      /T_LOAD_AWARE is not supported: use --mode kv/,
    );
    expect(() => flags.parse([], { T_LOAD_AWARE: "" })).not.toThrow();
    // An unlisted flag is still an unknown one.
    expect(() => flags.parse(["--tp", "8"], {})).toThrow(/unknown flag '--tp'/);
    // parseFlags consults the same table.
    expect(() => parseFlags(flags.specs, ["--tensor-parallel-size=8"], {}, flags.refused)).toThrow(FlagError);
  });

  it("accepts a refused switch set the way Kvasir always behaves, and refuses the other setting", () => {
    const switches = defineFlags({ port: { type: "number", default: 1, help: "a port" } }, [
      { name: "load-aware", env: ["T_LOAD_AWARE"], accepts: "off", message: "not here" },
      { name: "track-prefill", accepts: "on", message: "always on" },
    ]);
    for (const argv of [
      ["--no-load-aware"],
      ["--load-aware=false"],
      ["--track-prefill"],
      ["--track-prefill=1"],
    ])
      expect(switches.parse([...argv, "--port", "2"], {})).toEqual({ port: 2 });
    expect(switches.parse([], { T_LOAD_AWARE: "false" })).toEqual({ port: 1 });
    for (const argv of [
      ["--load-aware"],
      ["--load-aware=true"],
      ["--no-track-prefill"],
      ["--track-prefill=off"],
    ])
      expect(() => switches.parse(argv, {})).toThrow(/is not supported/);
    expect(() => switches.parse([], { T_LOAD_AWARE: "1" })).toThrow(
      /T_LOAD_AWARE is not supported: not here/,
    );
    expect(() => parseFlags(flags.specs, ["--load-aware"], {}, flags.refused)).toThrow(FlagError);
  });

  it("reads values parsed with a superset, filling defaults and rejecting wrong types", () => {
    const wider = defineFlags({ ...flags.defs, extra: { type: "string", default: "x", help: "more" } });
    const values = flags.read(wider.parse(["--port", "1"], {}));
    expect(values).toEqual({ port: 1, mode: "kv", cache: true, names: [], size: 16 });
    expect(flags.read({})).toEqual({ port: 8000, mode: "kv", cache: true, names: [], size: 16 });
    expect(() => flags.read({ port: "8000" })).toThrow(/--port needs a number/);
    expect(() => flags.read({ mode: "fast" })).toThrow(/--mode must be one of kv, random/);
    expect(() => flags.read({ names: ["a", 1] })).toThrow(FlagError);
    expect(() => flags.read({ port: 0.5 })).toThrow(/whole number/);
  });
});
