import { parseFlags } from "@kvasir/runtime";
import { describe, expect, it } from "vitest";
import { routerCommand } from "./command.js";

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  routerCommand.toConfig(parseFlags(routerCommand.flags, argv, env, routerCommand.refused));

describe("kvasir router flags", () => {
  it("takes dynamo.router's --endpoint and --router-block-size", () => {
    const config = parse(["--endpoint", "prod.prefill.generate", "--router-block-size", "64"]);
    expect(config).toMatchObject({ workerComponent: "prefill", blockSize: 64 });
    expect(config.runtime.namespace).toBe("prod");
    expect(parse(["--endpoint", "dyn://ns.decode.generate"]).workerComponent).toBe("decode");
    expect(() => parse(["--endpoint", "ns.backend"])).toThrow(/namespace\.component\.generate/);
    expect(() => parse(["--endpoint", "ns.backend.clear_kv_blocks"])).toThrow(
      /namespace\.component\.generate/,
    );
  });

  it("reads the router flags with Dynamo's defaults and variables", () => {
    const config = parse([], {
      DYN_ROUTER_TEMPERATURE: "0.5",
      DYN_SYSTEM_PORT: "9100",
      DYN_ROUTER_BLOCK_SIZE: "32",
    });
    expect(config.router.cost).toEqual({
      model: "linear",
      temperature: 0.5,
      overlapScoreCredit: 1,
      prefillLoadScale: 1,
    });
    expect(config.router).toMatchObject({ useKvEvents: true, queueThreshold: 16, queuePolicy: "fcfs" });
    expect(config).toMatchObject({ systemPort: 9100, blockSize: 32, workerComponent: "backend", port: 0 });
    expect(parse([]).blockSize).toBeUndefined();
  });

  it("takes --advertise-host and refuses what Kvasir's router does not have", () => {
    expect(parse(["--host", "0.0.0.0", "--advertise-host", "10.0.0.9"]).advertiseHost).toBe("10.0.0.9");
    expect(() => parse(["--router-prefill-load-model", "aic"])).toThrow(/no AIC prefill load model/);
    expect(() => parse(["--router-kv-overlap-score-credit", "2"])).toThrow(/at most 1/);
  });
});
