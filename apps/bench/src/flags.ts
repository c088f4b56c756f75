// Every bench script reads its flags the same way as the apps do (runtime's parseFlags): `--help` prints the
// flag list and exits 0; a bad flag names the script, points at --help and exits 2 before any work starts.
import { type FlagSpec, type FlagValues, formatHelp, HelpRequested, parseFlags } from "@kvasir/runtime";

export type BenchFlagsOutcome =
  | { kind: "values"; values: FlagValues }
  | { kind: "help"; text: string }
  | { kind: "error"; message: string };

/** Parses without side effects; `script` is the pnpm script name, e.g. `bench:transfer`. */
export function readBenchFlags(
  script: string,
  summary: string,
  specs: readonly FlagSpec[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): BenchFlagsOutcome {
  try {
    return { kind: "values", values: parseFlags(specs, argv, env) };
  } catch (error) {
    if (error instanceof HelpRequested) {
      return { kind: "help", text: formatHelp(`pnpm ${script}`, summary, specs) };
    }
    const why = error instanceof Error ? error.message : String(error);
    return { kind: "error", message: `${script}: ${why}\nRun 'pnpm ${script} --help' for its flags.\n` };
  }
}

/** The process's flags; prints help or the error and exits when there is nothing to run. */
export function benchFlags(script: string, summary: string, specs: readonly FlagSpec[]): FlagValues {
  const outcome = readBenchFlags(script, summary, specs, process.argv.slice(2), process.env);
  if (outcome.kind === "values") return outcome.values;
  if (outcome.kind === "help") {
    process.stdout.write(outcome.text);
    process.exit(0);
  }
  process.stderr.write(outcome.message);
  process.exit(2);
}
