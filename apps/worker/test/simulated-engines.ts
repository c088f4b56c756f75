// Real engines' command lines over Kvasir's engine simulator: a `vllm` and a `python` on PATH that run
// `kvasir mocker --protocol vllm|sglang` for `vllm serve MODEL ...` and `python -m sglang.launch_server ...`, so
// the adapters run exactly the command lines a GPU user gives them. Each engine's pid is appended to a file, so
// a test can kill the engine it means (and only it).
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const mocker = fileURLToPath(new URL("../../mocker/src/main.ts", import.meta.url));
const tsx = createRequire(import.meta.url).resolve("tsx");

const vllm = `#!/bin/sh
# vllm serve MODEL [flags]: the simulator speaking vLLM's protocol.
[ "$1" = serve ] || { echo "only 'vllm serve' is simulated" >&2; exit 2; }
shift
model="$1"; shift
echo $$ >> "$KVASIR_ENGINE_PIDS"
exec "$KVASIR_NODE" --import "$KVASIR_TSX" "$KVASIR_MOCKER" --protocol vllm --model "$model" $KVASIR_SIM_ARGS "$@"
`;

const python = `#!/bin/sh
# python -m sglang.launch_server [flags]: the simulator speaking SGLang's protocol.
[ "$1" = -m ] && [ "$2" = sglang.launch_server ] || { echo "only 'python -m sglang.launch_server' is simulated" >&2; exit 2; }
shift 2
echo $$ >> "$KVASIR_ENGINE_PIDS"
exec "$KVASIR_NODE" --import "$KVASIR_TSX" "$KVASIR_MOCKER" --protocol sglang $KVASIR_SIM_ARGS "$@"
`;

export interface SimulatedEngines {
  /** Environment under which `vllm serve` and `python -m sglang.launch_server` run the simulator. */
  env: Record<string, string>;
  /** Pids of the engines started so far, in start order. */
  pids(): number[];
  /** Puts `env` into this process's environment (for workers started in-process); returns the undo. */
  install(): () => void;
  remove(): void;
}

/** `simArgs`: flags every simulated engine gets (e.g. `--speedup-ratio 20`), beside the command's own. */
export function simulatedEngines(simArgs: string): SimulatedEngines {
  const dir = mkdtempSync(join(tmpdir(), "kvasir-engines-"));
  for (const [name, script] of [
    ["vllm", vllm],
    ["python", python],
  ] as const) {
    writeFileSync(join(dir, name), script);
    chmodSync(join(dir, name), 0o755);
  }
  const pidFile = join(dir, "pids");
  writeFileSync(pidFile, "");
  const env = {
    PATH: `${dir}:${process.env.PATH ?? ""}`,
    KVASIR_NODE: process.execPath,
    KVASIR_TSX: tsx,
    KVASIR_MOCKER: mocker,
    KVASIR_SIM_ARGS: simArgs,
    KVASIR_ENGINE_PIDS: pidFile,
  };
  return {
    env,
    pids: () =>
      readFileSync(pidFile, "utf8")
        .split("\n")
        .filter((line) => line !== "")
        .map(Number),
    install() {
      const before = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
      Object.assign(process.env, env);
      return () => {
        for (const [key, value] of Object.entries(before)) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
      };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
