import { runCommand } from "@kvasir/runtime";
import { routerCommand } from "./command.js";

await runCommand(routerCommand, process.argv.slice(2), process.env);
