// Builds the addon with node-gyp during `pnpm install`. Uses the headers that ship with Node when present so
// no download is needed. A failed build warns and exits 0 (callers fall back to TypeScript) unless --strict.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, "..");
const strict = process.argv.includes("--strict");
const debug = process.argv.includes("--debug");

const args = ["rebuild"];
if (debug) args.push("--debug");
const prefix = resolve(process.execPath, "..", "..");
if (existsSync(join(prefix, "include", "node", "node_api.h"))) args.push(`--nodedir=${prefix}`);

const require = createRequire(join(pkg, "package.json"));
let gyp;
try {
  gyp = require.resolve("node-gyp/bin/node-gyp.js");
} catch {
  console.warn("@kvasir/native: node-gyp is not installed; the native addon was not built");
  process.exit(strict ? 1 : 0);
}
const r = spawnSync(process.execPath, [gyp, ...args], { cwd: pkg, stdio: "inherit", env: process.env });
if (r.status !== 0) {
  console.warn(
    `@kvasir/native: native build failed (exit ${r.status}); Kvasir will use the TypeScript indexer`,
  );
  process.exit(strict ? 1 : 0);
}
