// `pnpm lint:deps`: checks the workspace's dependency direction against .dependency-cruiser.cjs.
// dependency-cruiser's CLI refuses to start on Node 20 (its engines say ^22), but its API runs fine there, so
// this calls the API with the same config the CLI would read and prints the CLI's `err` report.
import { fileURLToPath } from "node:url";
import { cruise } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";

const root = fileURLToPath(new URL("..", import.meta.url));
process.chdir(root);

const options = await extractDepcruiseOptions("./.dependency-cruiser.cjs");
const roots = process.argv.length > 2 ? process.argv.slice(2) : ["packages", "apps", "native"];
const result = await cruise(roots, { ...options, outputType: "err", validate: true });
process.stdout.write(typeof result.output === "string" ? result.output : JSON.stringify(result.output));
process.exitCode = result.exitCode;
