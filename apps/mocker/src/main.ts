import { runCommand } from "@kvasir/runtime";
import { mockerCommand } from "./command.js";

await runCommand(mockerCommand, process.argv.slice(2), process.env);
