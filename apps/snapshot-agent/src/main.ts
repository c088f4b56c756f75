import { runCommand } from "@kvasir/runtime";
import { snapshotAgentCommand } from "./command.js";

await runCommand(snapshotAgentCommand, process.argv.slice(2), process.env);
