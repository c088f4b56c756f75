import { describe, expect, it } from "vitest";
import { FlagError, type FlagSpec, formatHelp, HelpRequested, parseFlags } from "./flags.js";

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
