import type { Command } from "@kvasir/runtime";
import { type SimulatorConfig, simulatorConfigFromFlags } from "./config.js";
import { ignoredFlags, simulatorFlags } from "./flags.js";
import { type EngineSimulator, start } from "./simulator.js";

/** Every flag the command parses: its own, both engines' and the engines' accepted-and-ignored ones. */
const specs = [...simulatorFlags.specs];
for (const [name, def] of Object.entries({ ...ignoredFlags.vllm, ...ignoredFlags.sglang })) {
  if (!specs.some((s) => s.name === name)) specs.push({ name, ...def });
}

/** `kvasir mocker`: the mocker as a standalone engine process speaking vLLM's or SGLang's protocol. */
export const mockerCommand: Command<SimulatorConfig> & {
  start(config: SimulatorConfig): Promise<EngineSimulator>;
} = {
  name: "mocker",
  summary:
    "Run the engine simulator: the mocker behind vLLM's (--protocol vllm) or SGLang's (--protocol sglang) HTTP API, /metrics and ZMQ KV events.",
  flags: specs,
  toConfig: simulatorConfigFromFlags,
  start,
};
