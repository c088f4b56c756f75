import { runCommand } from "@kvasir/runtime";
import { createLogger } from "@kvasir/telemetry";
import { indexerCommand } from "./command.js";

await runCommand(indexerCommand, process.argv.slice(2), process.env, createLogger("indexer"));
