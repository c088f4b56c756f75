// Dependency direction of the workspace (docs: /work/shared/DESIGN.md §9), checked by `pnpm lint:deps`:
//   protocol ← runtime, kv, llm, telemetry, engine-wire ← mocker, native ← serving, model-files ← apps.
// Workspace imports are by package name (`@kvasir/x`); they resolve through pnpm's node_modules symlinks to the
// real folder (packages/x, apps/x, native), so every rule below is written against repository paths.

/** Test code: vitest files beside the code and everything under a package's or app's test/ folder. */
const TESTS = "(^|/)test/|\\.test\\.ts$";

/** `from` for every file (tests included) of workspace folders matching `folders` (a regex alternative). */
const filesOf = (folders) => ({ path: `^(${folders})/` });

/**
 * `to` for any workspace file except those under `allowed` (a regex alternative of folders) and the test harness,
 * which tests of every layer may use (testing-only-in-tests keeps it out of non-test files).
 */
const workspaceExcept = (allowed) => ({
  path: "^(packages|apps|native)/",
  pathNot: `^(${allowed}|packages/testing)/`,
});

/** Network and process modules a logic package has no business with (I/O belongs to serving and the apps). */
const NETWORK_AND_PROCESSES = "net|http|http2|https|dgram|child_process|cluster|worker_threads";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "packages-not-to-apps",
      comment: "Packages never import apps; apps compose packages.",
      severity: "error",
      from: { path: "^(packages|native)/" },
      to: { path: "^apps/" },
    },
    {
      name: "apps-not-to-apps",
      comment: "Apps never import each other, except apps/cli (composes them) and apps/bench (drives them).",
      severity: "error",
      from: { path: "^apps/([^/]+)/", pathNot: "^apps/(cli|bench)/" },
      to: { path: "^apps/", pathNot: "^apps/$1/" },
    },
    {
      name: "protocol-imports-no-workspace",
      comment: "protocol is the bottom layer: generated code and wire types only.",
      severity: "error",
      from: { path: "^packages/protocol/" },
      to: workspaceExcept("packages/protocol"),
    },
    {
      name: "foundation-imports-protocol-only",
      comment: "runtime, kv, llm and telemetry build on protocol alone.",
      severity: "error",
      from: filesOf("packages/(runtime|kv|llm|telemetry)"),
      to: workspaceExcept("packages/$2|packages/protocol"),
    },
    {
      name: "engine-wire-imports-protocol-and-kv",
      comment: "engine-wire speaks the engines' wire formats in terms of protocol and kv's event model.",
      severity: "error",
      from: filesOf("packages/engine-wire"),
      to: workspaceExcept("packages/(engine-wire|protocol|kv)"),
    },
    {
      name: "mocker-and-native-import-kv-and-protocol",
      comment: "The simulated engine and the addon sit on kv and protocol only.",
      severity: "error",
      from: filesOf("packages/mocker|native"),
      to: workspaceExcept("packages/(protocol|kv)|$1"),
    },
    {
      name: "serving-imports-no-bench",
      comment:
        "serving may use every package but the benchmark library (and the test harness, in its tests only: " +
        "see testing-only-in-tests).",
      severity: "error",
      from: filesOf("packages/serving"),
      to: { path: "^packages/bench/" },
    },
    {
      name: "model-files-imports-foundation-only",
      comment:
        "model-files (model manifests, sources, the HF cache layout) sits beside serving on protocol and runtime.",
      severity: "error",
      from: filesOf("packages/model-files"),
      to: workspaceExcept("packages/(model-files|protocol|runtime|telemetry)"),
    },
    {
      name: "testing-only-in-tests",
      comment: "The test harness is for tests (and apps/bench, which starts real servers to measure them).",
      severity: "error",
      from: { path: "^(packages|apps|native)/", pathNot: `${TESTS}|^packages/testing/|^apps/bench/` },
      to: { path: "^packages/testing/" },
    },
    {
      name: "logic-packages-no-network-or-processes",
      comment: "kv, llm and mocker are logic: no sockets, servers, subprocesses or threads.",
      severity: "error",
      from: { path: "^packages/(kv|llm|mocker)/" },
      to: { dependencyTypes: ["core"], path: `^(node:)?(${NETWORK_AND_PROCESSES})$` },
    },
    {
      name: "kv-and-mocker-no-files",
      comment: "kv and mocker do no file I/O either; llm may (it reads tokenizer and template files).",
      severity: "error",
      from: { path: "^packages/(kv|mocker)/" },
      to: { dependencyTypes: ["core"], path: "^(node:)?fs(/promises)?$" },
    },
    {
      name: "workspace-imports-resolve",
      comment:
        "An @kvasir/* import that does not resolve (usually: not declared in the importer's package.json, so pnpm " +
        "did not link it) would slip past every rule above.",
      severity: "error",
      from: {},
      to: { couldNotResolve: true, path: "^@kvasir/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(node_modules|build|dist|\\.turbo|\\.tmp)/" },
    // Type-only imports are dependencies too: a package must not even name an app's types.
    tsPreCompilationDeps: true,
    // No tsConfig: there are no `paths` aliases; package names resolve through node_modules like Node does.
    enhancedResolveOptions: {
      // Our packages export "./src/index.ts" through package.json "exports" (dependency-cruiser's default
      // ignores exports fields).
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
      extensions: [".ts", ".mts", ".js", ".mjs", ".cjs", ".d.ts", ".json", ".node"],
    },
    // pnpm symlinks workspace packages into node_modules; follow them to packages/x, apps/x and native.
    preserveSymlinks: false,
    reporterOptions: { text: { highlightFocused: true } },
  },
};
