import { runCommand } from "@kvasir/runtime";
import { frontendCommand } from "./command.js";

await runCommand(frontendCommand, process.argv.slice(2), process.env);
