import { runCommand } from "@kvasir/runtime";
import { mockerCommand } from "./command.js";
import { normalizeEngineArgv } from "./engine-argv.js";

await runCommand(mockerCommand, normalizeEngineArgv(process.argv.slice(2)), process.env);
