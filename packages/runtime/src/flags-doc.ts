// docs/flags.md from the flag definitions: one table per command with Dynamo's name beside Kvasir's, the
// deliberate differences, and the Dynamo flags a command refuses with what to use instead.
import { envNamesOf, type FlagSpec, formatDefault, type RefusedFlag } from "./flags.js";

/** One `kvasir` command as the doc shows it. */
export interface DocCommand {
  name: string;
  /** The Dynamo module(s) it corresponds to, e.g. `dynamo.frontend`; empty when Dynamo has none. */
  dynamo: string;
  summary: string;
  flags: readonly FlagSpec[];
  refused: readonly RefusedFlag[];
}

/** Markdown for `commands`, framed by `intro` (prose before the tables) and `outro` (after them). */
export function renderFlagsDoc(commands: readonly DocCommand[], intro: string, outro = ""): string {
  const parts = [intro.trimEnd()];
  for (const command of commands) parts.push(renderCommand(command));
  if (outro) parts.push(outro.trimEnd());
  return `${parts.join("\n\n")}\n`;
}

function renderCommand(command: DocCommand): string {
  const title = command.dynamo
    ? `## \`kvasir ${command.name}\` (${command.dynamo})`
    : `## \`kvasir ${command.name}\``;
  const rows = command.flags.map((spec) =>
    row([
      dynamoName(spec),
      kvasirName(spec),
      envNamesOf(spec)
        .map((name) => `\`${name}\``)
        .join(", "),
      defaultOf(spec),
      spec.choices ? `${spec.help} (${spec.choices.map((c) => `\`${c}\``).join(", ")})` : spec.help,
    ]),
  );
  const lines = [
    title,
    "",
    command.summary,
    "",
    row(["Dynamo", "Kvasir", "env", "default", "meaning"]),
    row(["---", "---", "---", "---", "---"]),
    ...rows,
  ];
  const differences = command.flags.filter((spec) => spec.differs);
  if (differences.length > 0) {
    lines.push("", "Deliberate differences from Dynamo:", "");
    for (const spec of differences) lines.push(`- \`--${spec.name}\`: ${spec.differs}.`);
  }
  if (command.refused.length > 0) {
    lines.push(
      "",
      "Refused, with the message Kvasir prints:",
      "",
      row(["Dynamo", "message"]),
      row(["---", "---"]),
    );
    for (const flag of command.refused) {
      const names = [`\`--${flag.name}\``, ...(flag.env ?? []).map((name) => `\`${name}\``)].join(", ");
      const kept =
        flag.accepts === "on" ? `--${flag.name}` : flag.accepts === "off" ? `--no-${flag.name}` : "";
      lines.push(
        row([names, kept ? `${flag.message} (\`${kept}\`, Kvasir's behaviour, is accepted)` : flag.message]),
      );
    }
  }
  return lines.join("\n");
}

function dynamoName(spec: FlagSpec): string {
  if (spec.dynamo === undefined) return "—";
  return spec.dynamo === true ? `\`--${spec.name}\`` : spec.dynamo;
}

function kvasirName(spec: FlagSpec): string {
  const head = spec.type === "boolean" ? `\`--[no-]${spec.name}\`` : `\`--${spec.name}\``;
  const aliases = spec.aliases?.map((alias) => `\`--${alias}\``) ?? [];
  return aliases.length > 0 ? `${head} (also ${aliases.join(", ")})` : head;
}

function defaultOf(spec: FlagSpec): string {
  const shown = formatDefault(spec);
  if (shown === undefined) return "—";
  return shown === "" ? '`""`' : `\`${shown}\``;
}

function row(cells: readonly string[]): string {
  return `| ${cells.map((cell) => cell.replaceAll("|", "\\|").replaceAll("\n", " ")).join(" | ")} |`;
}
