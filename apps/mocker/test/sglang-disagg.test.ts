// SGLang PD disaggregation fields (FORMATS.md §2.4) on in-process simulators: a prefill server needs the bootstrap
// fields, computes the prompt and the first token, and serves its bootstrap server; a decode server takes the
// prompt's KV as transferred.

import { parseFlags } from "@kvasir/runtime";
import { freePort } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mockerCommand } from "../src/command.js";
import { type EngineSimulator, simulatorConfigFromFlags, start } from "../src/index.js";
import { body, post } from "./engine-process.js";

const input_ids = Array.from({ length: 20 }, (_, i) => 500 + i);

async function simulator(...argv: string[]): Promise<EngineSimulator> {
  return start(
    simulatorConfigFromFlags(
      parseFlags(
        mockerCommand.flags,
        ["--protocol", "sglang", "--port", "0", "--speedup-ratio", "10", ...argv],
        {},
      ),
    ),
  );
}

describe("SGLang disaggregation", () => {
  let prefill: EngineSimulator;
  let decode: EngineSimulator;
  let bootstrapPort: number;

  beforeAll(async () => {
    bootstrapPort = await freePort();
    prefill = await simulator(
      "--disaggregation-mode",
      "prefill",
      "--disaggregation-bootstrap-port",
      String(bootstrapPort),
    );
    decode = await simulator("--disaggregation-mode", "decode");
  });
  afterAll(async () => {
    await prefill?.stop();
    await decode?.stop();
  });

  it("refuses a request without bootstrap fields", async () => {
    const res = await post(`${prefill.url}/generate`, { input_ids, sampling_params: { max_new_tokens: 4 } });
    expect(res.status).toBe(400);
    expect((await body(Promise.resolve(res))).error.message).toMatch(/bootstrap_room/);
  });

  it("runs the same body on both: the prefill returns the first token, the decode the whole reply", async () => {
    const request = {
      input_ids,
      sampling_params: { max_new_tokens: 4, ignore_eos: true },
      bootstrap_host: "127.0.0.1",
      bootstrap_port: bootstrapPort,
      bootstrap_room: 123456789,
    };
    const [p, d] = await Promise.all([
      body(post(`${prefill.url}/generate`, request)),
      body(post(`${decode.url}/generate`, request)),
    ]);
    expect(p.output_ids).toHaveLength(1);
    expect(d.output_ids).toHaveLength(4);
    expect(d.meta_info).toMatchObject({ prompt_tokens: 20, completion_tokens: 4 });
    expect((await fetch(`http://127.0.0.1:${bootstrapPort}/health`)).status).toBe(200);
  });
});
