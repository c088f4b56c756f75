#!/usr/bin/env node
import { mockerCommand } from "@kvasir/engine-simulator";
import { frontendCommand } from "@kvasir/frontend";
import { indexerCommand } from "@kvasir/indexer";
import { modelExpressCommand } from "@kvasir/model-express";
import { plannerCommand, profileCommand } from "@kvasir/planner";
import { routerCommand } from "@kvasir/router";
import { runCommand } from "@kvasir/runtime";
import { snapshotAgentCommand } from "@kvasir/snapshot-agent";
import { workerCommand } from "@kvasir/worker";
import { serveCommand } from "./serve.js";

const commands = [
  serveCommand,
  workerCommand,
  frontendCommand,
  routerCommand,
  indexerCommand,
  snapshotAgentCommand,
  mockerCommand,
  modelExpressCommand,
  plannerCommand,
  profileCommand,
];

const [name, ...args] = process.argv.slice(2);
const command = commands.find((candidate) => candidate.name === name);
if (!command) {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  const help = `Usage: kvasir <command> [flags]\n\nCommands:\n${lines.join("\n")}\n\nRun 'kvasir <command> --help' for its flags.\n`;
  const asked = name === undefined || name === "--help" || name === "-h" || name === "help";
  (asked ? process.stdout : process.stderr).write(
    asked ? help : `kvasir: unknown command '${name}'\n\n${help}`,
  );
  process.exit(asked ? 0 : 2);
}
await runCommand(command, args, process.env);
