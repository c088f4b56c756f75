import { runCommand } from "@kvasir/runtime";
import { workerCommand } from "./command.js";

await runCommand(workerCommand, process.argv.slice(2), process.env);
