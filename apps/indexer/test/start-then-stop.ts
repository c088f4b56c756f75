// Starts the indexer from command-line flags and stops it (or reports that starting failed) without calling
// process.exit: this process ends by itself only if nothing the indexer opened is left holding the event loop.
import { parseFlags } from "@kvasir/runtime";
import { indexerCommand } from "../src/command.js";

const config = indexerCommand.toConfig(parseFlags(indexerCommand.flags, process.argv.slice(2), process.env));
try {
  const indexer = await indexerCommand.start(config);
  console.log("started");
  await indexer.stop();
  console.log("stopped");
} catch (error) {
  console.log(`start failed: ${error instanceof Error ? error.message : String(error)}`);
}
// What still runs shows up here when the process does not exit: the test prints it on failure.
setTimeout(() => console.log(`still active: ${process.getActiveResourcesInfo().join(",")}`), 3000).unref();
