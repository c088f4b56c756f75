import { runCommand } from "@kvasir/runtime";
import { modelExpressCommand } from "./command.js";

await runCommand(modelExpressCommand, process.argv.slice(2), process.env);
