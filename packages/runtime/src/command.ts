import {
  FlagError,
  type FlagSpec,
  type FlagValues,
  formatHelp,
  HelpRequested,
  parseFlags,
  type RefusedFlag,
} from "./flags.js";
import { type LifecycleLog, runUntilSignal, type Service } from "./lifecycle.js";
import { redactedError, redactFields } from "./redact.js";

/** A `kvasir <name>` subcommand: its flags, how they become a config, and how to start it. */
export interface Command<C> {
  name: string;
  summary: string;
  flags: FlagSpec[];
  /** Dynamo flags this command does not take, each with what to use instead. */
  refused?: RefusedFlag[];
  toConfig(values: FlagValues): C;
  start(config: C): Promise<Service>;
}

/**
 * Parses flags (printing help on --help and exiting 0, or a usage error and exiting 2), starts the command's
 * service and runs it until SIGTERM/SIGINT.
 */
export async function runCommand(
  command: Command<unknown>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  log: LifecycleLog = stderrLog(command.name),
): Promise<void> {
  let config: unknown;
  try {
    config = command.toConfig(parseFlags(command.flags, argv, env, command.refused));
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(formatHelp(`kvasir ${command.name}`, command.summary, command.flags));
      process.exit(0);
    }
    const message = redactedError(error);
    const hint = error instanceof FlagError ? `\nRun 'kvasir ${command.name} --help' for its flags.` : "";
    process.stderr.write(`kvasir ${command.name}: ${message}${hint}\n`);
    process.exit(2);
  }
  // Handed over while still starting, so a signal during startup is handled too.
  runUntilSignal(
    Promise.resolve().then(() => command.start(config)),
    log,
  );
}

/** JSON lines on stderr, for commands run without a logger. */
function stderrLog(component: string): LifecycleLog {
  const write = (level: string, message: string, fields?: Record<string, unknown>) =>
    process.stderr.write(
      `${JSON.stringify({ time: new Date().toISOString(), level, component, message, ...redactFields(fields) })}\n`,
    );
  return {
    info: (message, fields) => write("info", message, fields),
    error: (message, fields) => write("error", message, fields),
  };
}
