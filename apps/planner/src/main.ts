import { runCommand } from "@kvasir/runtime";
import { createLogger } from "@kvasir/telemetry";
import { plannerCommand } from "./command.js";

await runCommand(plannerCommand, process.argv.slice(2), process.env, createLogger("planner"));
