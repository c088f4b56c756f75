import { parseFlags, runUntilSignal } from "@kvasir/runtime";
import { createLogger } from "@kvasir/telemetry";
import { workerCommand } from "./command.js";
import { start } from "./worker.js";

const values = parseFlags(workerCommand.flags, process.argv.slice(2), process.env);
runUntilSignal(await start(workerCommand.toConfig(values)), createLogger("worker"));
