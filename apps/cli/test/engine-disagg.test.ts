// Disaggregated serving over real engines' protocols: `kvasir serve --backend vllm|sglang` with a prefill and a
// decode worker, each driving a simulated engine. vLLM's kv_transfer_params (NixlConnector layout) and SGLang's
// bootstrap fields go from the prefill engine to the decode engine through the workers and the frontend.
import { parseFlags } from "@kvasir/runtime";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SimulatedEngines, simulatedEngines } from "../../worker/test/simulated-engines.js";
import { type Serving, serveCommand, start } from "../src/serve.js";

const MODEL = "Qwen/Qwen3-0.6B";
const COMMANDS = {
  vllm: `vllm serve ${MODEL}`,
  sglang: `python -m sglang.launch_server --model-path ${MODEL}`,
} as const;

describe.each([
  "vllm",
  "sglang",
] as const)("kvasir serve --backend %s, one prefill and one decode worker", (backend) => {
  let engines: SimulatedEngines;
  let uninstall = () => {};
  let serving: Serving;
  let client: OpenAI;

  beforeAll(async () => {
    engines = simulatedEngines("--speedup-ratio 20");
    uninstall = engines.install();
    const argv = [
      ...["--http-host", "127.0.0.1", "--http-port", "0", "--namespace", `engine-disagg-${backend}`],
      ...["--backend", backend, "--engine-command", COMMANDS[backend]],
      ...["--prefill-workers", "1", "--decode-workers", "1"],
    ];
    serving = await start(serveCommand.toConfig(parseFlags(serveCommand.flags, argv, {})));
    client = new OpenAI({ baseURL: `${serving.url}/v1`, apiKey: "unused", maxRetries: 0 });
  }, 60_000);

  afterAll(async () => {
    await serving?.stop();
    uninstall();
    engines?.remove();
  });

  it("prefills on the prefill worker and decodes on the decode worker, to exactly max_tokens", async () => {
    const prompt = Array.from({ length: 200 }, (_, i) => 1500 + ((i * 11) % 3000));
    const answer = await client.completions.create({
      model: MODEL,
      prompt,
      max_tokens: 12,
      ...{ ignore_eos: true },
    });
    expect(answer.usage?.completion_tokens).toBe(12);
    const [prefill, decode] = serving.workers.map((w) => w.instanceId.toString());
    const served = (answer as unknown as { nvext: { worker_id: Record<string, string> } }).nvext.worker_id;
    expect(served).toMatchObject({ prefill_worker_id: prefill, decode_worker_id: decode });
  });
});
