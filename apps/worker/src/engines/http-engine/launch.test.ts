import { describe, expect, it } from "vitest";
import { sglangLaunch } from "../sglang/launch.js";
import { vllmLaunch } from "../vllm/launch.js";
import { splitCommand } from "./command-line.js";
import { kvEventStreams } from "./kv-events-config.js";
import type { LaunchInput } from "./launch.js";

const input = (command: string, over: Partial<LaunchInput> = {}): LaunchInput => ({
  argv: splitCommand(command),
  ports: { http: 21000, kvEvents: 22000, kvReplay: 23000, bootstrap: 24000, sideChannel: 25000 },
  blockSize: 16,
  disaggregationMode: "agg",
  advertiseHost: "10.0.0.5",
  ...over,
});

describe("vLLM command line", () => {
  it("adds port, host, KV events with replay, prefix caching and block size to a bare command", () => {
    const plan = vllmLaunch(input("vllm serve Qwen/Qwen3-0.6B"));
    expect(plan.argv.slice(0, 3)).toEqual(["vllm", "serve", "Qwen/Qwen3-0.6B"]);
    expect(plan.argv).toEqual(
      expect.arrayContaining([
        "--port",
        "21000",
        "--host",
        "127.0.0.1",
        "--block-size",
        "16",
        "--enable-prefix-caching",
      ]),
    );
    const config = JSON.parse(plan.argv[plan.argv.indexOf("--kv-events-config") + 1] ?? "");
    expect(config).toEqual({
      enable_kv_cache_events: true,
      publisher: "zmq",
      endpoint: "tcp://*:22000",
      replay_endpoint: "tcp://*:23000",
      topic: "kv-events",
    });
    expect(plan.url).toBe("http://127.0.0.1:21000");
    expect(plan.settings).toMatchObject({ dataParallelSize: 1, blockSize: 16, priorityScheduling: false });
    expect(plan.env).toEqual({});
  });

  it("keeps what the command says and reads the settings off it", () => {
    const plan = vllmLaunch(
      input(
        `vllm serve m --port 8000 --block-size 32 -dp 2 --max-num-seqs 64 --max-model-len 4096 --scheduling-policy priority --kv-events-config '{"enable_kv_cache_events":true,"endpoint":"tcp://*:5557"}'`,
      ),
    );
    expect(plan.argv.filter((a) => a === "--port")).toHaveLength(1);
    expect(plan.argv.filter((a) => a === "--block-size")).toHaveLength(1);
    expect(plan.argv.filter((a) => a === "--kv-events-config")).toHaveLength(1);
    expect(plan.url).toBe("http://127.0.0.1:8000");
    expect(plan.settings).toMatchObject({
      dataParallelSize: 2,
      blockSize: 32,
      maxNumSeqs: 64,
      contextLength: 4096,
      priorityScheduling: true,
    });
    // Rank r publishes on port + r; no replay socket configured.
    expect(kvEventStreams("vllm", plan.kvEventsConfig ?? {}, "127.0.0.1", 2)).toEqual({
      endpoints: ["tcp://127.0.0.1:5557", "tcp://127.0.0.1:5558"],
      topic: "",
    });
  });

  it("keeps the engine's --api-key to send it as a bearer token", () => {
    expect(vllmLaunch(input("vllm serve m --api-key s3cret")).settings.apiKey).toBe("s3cret");
    expect(sglangLaunch(input("sglang m --api-key=k")).settings.apiKey).toBe("k");
  });

  it("publishes nothing when the worker's config turns events off", () => {
    const plan = vllmLaunch(input("vllm serve m", { kvEventsConfig: { enable_kv_cache_events: false } }));
    expect(plan.argv).toContain('{"enable_kv_cache_events":false}');
    expect(plan.kvEventsConfig).toBeUndefined();
  });

  it("gives disaggregated engines NixlConnector and a side-channel port of their own", () => {
    const plan = vllmLaunch(input("vllm serve m", { disaggregationMode: "prefill" }));
    const config = JSON.parse(plan.argv[plan.argv.indexOf("--kv-transfer-config") + 1] ?? "");
    expect(config).toEqual({ kv_connector: "NixlConnector", kv_role: "kv_both" });
    expect(plan.env).toEqual({
      VLLM_NIXL_SIDE_CHANNEL_PORT: "25000",
      VLLM_NIXL_SIDE_CHANNEL_HOST: "10.0.0.5",
    });
  });
});

describe("SGLang command line", () => {
  it("adds port, host, page size, metrics and KV events", () => {
    const plan = sglangLaunch(
      input("python -m sglang.launch_server --model-path Qwen/Qwen3-0.6B --dp-size 2"),
    );
    expect(plan.argv).toEqual(
      expect.arrayContaining([
        "--port",
        "21000",
        "--page-size",
        "16",
        "--enable-metrics",
        "--kv-events-config",
      ]),
    );
    expect(plan.settings).toMatchObject({ dataParallelSize: 2, blockSize: 16, priorityScheduling: false });
    const config = JSON.parse(plan.argv[plan.argv.indexOf("--kv-events-config") + 1] ?? "");
    expect(config).not.toHaveProperty("enable_kv_cache_events");
    expect(config).toMatchObject({ publisher: "zmq", endpoint: "tcp://*:22000" });
  });

  it("runs prefill engines on a bootstrap port of their own and refuses a role that contradicts the worker's", () => {
    const plan = sglangLaunch(input("sglang m", { disaggregationMode: "prefill", transferBackend: "nixl" }));
    expect(plan.argv).toEqual(
      expect.arrayContaining([
        "--disaggregation-mode",
        "prefill",
        "--disaggregation-transfer-backend",
        "nixl",
        "--disaggregation-bootstrap-port",
        "24000",
      ]),
    );
    expect(plan.settings.bootstrapPort).toBe(24000);
    const decode = sglangLaunch(input("sglang m", { disaggregationMode: "decode" }));
    expect(decode.argv).not.toContain("--disaggregation-bootstrap-port");
    expect(() =>
      sglangLaunch(input("sglang m --disaggregation-mode decode", { disaggregationMode: "prefill" })),
    ).toThrow(/says --disaggregation-mode decode but the worker is a prefill worker/);
  });
});

describe("where the worker subscribes", () => {
  it("reaches wildcard binds on the engine's host, keeps explicit hosts, follows vLLM's defaults", () => {
    expect(
      kvEventStreams(
        "vllm",
        {
          enable_kv_cache_events: true,
          endpoint: "tcp://*:5557",
          replay_endpoint: "tcp://0.0.0.0:5600",
          topic: "t",
        },
        "10.1.1.1",
        1,
      ),
    ).toEqual({ endpoints: ["tcp://10.1.1.1:5557"], replayEndpoints: ["tcp://10.1.1.1:5600"], topic: "t" });
    expect(kvEventStreams("vllm", { enable_kv_cache_events: true }, "h", 1)?.endpoints).toEqual([
      "tcp://h:5557",
    ]);
    expect(
      kvEventStreams("vllm", { enable_kv_cache_events: true, publisher: "null" }, "h", 1),
    ).toBeUndefined();
    expect(kvEventStreams("vllm", {}, "h", 1)).toBeUndefined();
    // SGLang publishes when the publisher is zmq; it has no enable key (and refuses one).
    expect(kvEventStreams("sglang", { publisher: "zmq" }, "h", 1)?.endpoints).toEqual(["tcp://h:5557"]);
    expect(kvEventStreams("sglang", {}, "h", 1)).toBeUndefined();
  });
});
