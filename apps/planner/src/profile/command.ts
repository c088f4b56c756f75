// `kvasir profile`: sweeps a serving endpoint and writes the perf profile that `kvasir planner
// --profile-results-dir` and the mocker's --perf-profile read.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { perfProfileFile } from "@kvasir/protocol";
import { type Command, defineFlags, FlagError, type FlagValues, type Service } from "@kvasir/runtime";
import { createLogger } from "@kvasir/telemetry";
import { type SweepOptions, sweep } from "./sweep.js";
import { buildPerfProfile } from "./table.js";

const numbers = (name: string, values: string[]): number[] => {
  const out = values
    .flatMap((v) => v.split(","))
    .filter((v) => v !== "")
    .map(Number);
  if (out.some((v) => !Number.isInteger(v) || v < 1))
    throw new FlagError(`--${name}: positive whole numbers (space- or comma-separated)`);
  return [...new Set(out)].sort((a, b) => a - b);
};

export const profileFlags = defineFlags({
  url: {
    type: "string",
    default: "http://127.0.0.1:8000",
    help: "OpenAI-compatible endpoint to sweep (a frontend, or kvasir serve) in front of the engine to profile",
  },
  "model-name": { type: "string", help: "Model to ask for (default: the first one /v1/models lists)" },
  isl: {
    type: "list",
    default: ["128", "512", "1024", "2048", "4096"],
    help: "Prompt lengths (tokens) of the prefill sweep",
  },
  "decode-isl": {
    type: "list",
    default: ["128", "1024", "4096"],
    help: "Prompt lengths (tokens) of the decode sweep: its context columns",
  },
  concurrency: {
    type: "list",
    default: ["1", "4", "16", "64"],
    help: "Concurrent requests of the decode sweep: its active-KV rows",
  },
  osl: { type: "number", default: 64, integer: true, min: 2, help: "Output tokens of each decode request" },
  repeats: {
    type: "number",
    default: 3,
    integer: true,
    positive: true,
    help: "Repeats of each prefill point (median)",
  },
  output: {
    type: "string",
    default: "perf_profile.json",
    help: "Where to write the profile (a directory gets perf_profile.json)",
  },
});

export interface ProfileConfig extends SweepOptions {
  output: string;
}

async function firstModel(url: string): Promise<string> {
  const res = await fetch(new URL("v1/models", url.endsWith("/") ? url : `${url}/`));
  const body: unknown = await res.json();
  const data =
    typeof body === "object" && body !== null && "data" in body && Array.isArray(body.data) ? body.data : [];
  const id: unknown = data[0]?.id;
  if (typeof id !== "string") throw new Error(`${url}/v1/models lists no model`);
  return id;
}

export async function runProfile(config: ProfileConfig): Promise<Service> {
  const log = createLogger("profile");
  const model = config.model || (await firstModel(config.url));
  log.info("profiling", {
    url: config.url,
    model,
    isl: config.isl,
    decode_isl: config.decodeIsl,
    concurrency: config.concurrency,
  });
  const result = await sweep({ ...config, model, log });
  const profile = buildPerfProfile(result.prefill, result.decode);
  const file = config.output.endsWith(".json") ? config.output : `${config.output}/perf_profile.json`;
  mkdirSync(dirname(file), { recursive: true });
  // Dynamo's keys: the file the mocker's --perf-profile and the planner's --profile-results-dir read.
  writeFileSync(file, `${JSON.stringify(perfProfileFile(profile), null, 2)}\n`);
  log.info("profile written", {
    file,
    prefill_points: result.prefill.length,
    decode_points: result.decode.length,
  });
  return { stop: async () => {} };
}

export const profileCommand: Command<ProfileConfig> = {
  name: "profile",
  summary:
    "Sweep an engine over prompt lengths and concurrency; write the perf profile the planner and mocker read.",
  flags: profileFlags.specs,
  toConfig(values: FlagValues): ProfileConfig {
    const f = profileFlags.read(values);
    return {
      url: f.url,
      model: f["model-name"] ?? "",
      isl: numbers("isl", f.isl),
      decodeIsl: numbers("decode-isl", f["decode-isl"]),
      concurrency: numbers("concurrency", f.concurrency),
      osl: f.osl,
      repeats: f.repeats,
      output: f.output,
    };
  },
  start: runProfile,
};
