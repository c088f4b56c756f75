import { parseFlags, runUntilSignal } from "@kvasir/runtime";
import { createLogger } from "@kvasir/telemetry";
import { start, workerCommand } from "@kvasir/worker";
runUntilSignal(await start(workerCommand.toConfig(parseFlags(workerCommand.flags, process.argv.slice(2), process.env))), createLogger("worker"));
