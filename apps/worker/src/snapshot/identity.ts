// What identifies a checkpoint of this worker's engine: the model, the backend and its version, parallelism, dtype,
// context length, and the rest of the engine's command line. Ports and endpoints the adapter assigns are left out
// (the user's command is read, not the completed one), so identical workers share one checkpoint.
import type { CheckpointIdentity } from "@kvasir/protocol";

type Identity = Omit<CheckpointIdentity, "$typeName" | "$unknown">;

/** Flags read into their own identity fields (vLLM's and SGLang's spellings). */
const TENSOR_PARALLEL = ["--tensor-parallel-size", "-tp", "--tp-size", "--tp"];
const PIPELINE_PARALLEL = ["--pipeline-parallel-size", "-pp", "--pp-size", "--pp"];
const DTYPE = ["--dtype"];
const MODEL = ["--model", "--model-path"];
/** Flags that say where the engine listens or publishes, not how it computes. */
const PLACEMENT = new Set(["--port", "--host", "--kv-events-config", "--disaggregation-bootstrap-port"]);

/** `--name value` / `--name=value` / `--flag` pairs of an engine's argv after its program and subcommand. */
function options(argv: readonly string[]): { positional: string[]; flags: [string, string][] } {
  const positional: string[] = [];
  const flags: [string, string][] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (!arg.startsWith("-")) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    if (eq > 0) flags.push([arg.slice(0, eq), arg.slice(eq + 1)]);
    else {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith("-")) {
        flags.push([arg, next]);
        i++;
      } else flags.push([arg, "true"]);
    }
  }
  return { positional, flags };
}

export interface EngineIdentityInput {
  backend: "vllm" | "sglang";
  /** The user's `--engine-command`, split (program first). */
  argv: readonly string[];
  /** The engine's own version (its /version), when it reports one. */
  backendVersion: string;
  /** The served model as the engine reports it. */
  servedModel: string;
  maxModelLen: number;
}

export function engineIdentity(input: EngineIdentityInput): Identity {
  // `vllm serve MODEL ...`, `python -m sglang.launch_server ...`: options start at the first dash.
  const start = input.argv.findIndex((arg) => arg.startsWith("-"));
  const head = start < 0 ? input.argv.slice(1) : input.argv.slice(1, start);
  const { positional, flags } = options(start < 0 ? [] : input.argv.slice(start));
  const get = (names: readonly string[]) => flags.findLast(([name]) => names.includes(name))?.[1];
  const model =
    get(MODEL) ??
    [...head, ...positional].find((arg) => arg !== "serve" && arg !== "-m") ??
    input.servedModel;
  const known = new Set([...TENSOR_PARALLEL, ...PIPELINE_PARALLEL, ...DTYPE, ...MODEL]);
  const extraParameters: Record<string, string> = {};
  for (const [name, value] of flags)
    if (!known.has(name) && !PLACEMENT.has(name)) extraParameters[name] = value;
  return {
    model,
    backend: input.backend,
    backendVersion: input.backendVersion,
    tensorParallelSize: Number(get(TENSOR_PARALLEL) ?? 1),
    pipelineParallelSize: Number(get(PIPELINE_PARALLEL) ?? 1),
    dtype: get(DTYPE) ?? "auto",
    maxModelLen: input.maxModelLen,
    extraParameters,
  };
}
