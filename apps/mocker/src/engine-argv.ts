// vLLM's single-dash short flags (vllm/engine/arg_utils.py: `-tp`, `-pp`, `-dp`) in their long form, so an engine
// command line written for `vllm serve` runs on the simulator unchanged.
const SHORT_FLAGS: Readonly<Record<string, string>> = {
  "-tp": "--tensor-parallel-size",
  "-pp": "--pipeline-parallel-size",
  "-dp": "--data-parallel-size",
};

export function normalizeEngineArgv(argv: readonly string[]): string[] {
  return argv.map((arg) => {
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const long = SHORT_FLAGS[flag];
    return long === undefined ? arg : `${long}${eq === -1 ? "" : arg.slice(eq)}`;
  });
}
