import { parseFlags } from "@kvasir/runtime";
import { describe, expect, it } from "vitest";
import { frontendCommand } from "./command.js";

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  frontendCommand.toConfig(parseFlags(frontendCommand.flags, argv, env, frontendCommand.refused));

describe("kvasir frontend flags", () => {
  it("takes the dstack recipe's dynamo.frontend line verbatim, with its environment", () => {
    const argv =
      "--http-host 0.0.0.0 --http-port 8000 --discovery-backend etcd --router-mode kv --kv-cache-block-size 64";
    const env = { ETCD_ENDPOINTS: "http://10.0.0.2:2379", NATS_SERVER: "nats://10.0.0.2:4222" };
    const config = parse(argv.split(" "), env);
    expect(config).toMatchObject({ httpHost: "0.0.0.0", httpPort: 8000, routerMode: "kv", blockSize: 64 });
    expect(config.runtime.discovery).toMatchObject({
      backend: "etcd",
      etcdEndpoints: "http://10.0.0.2:2379",
    });
    // As in Dynamo, a deployment discovering over etcd carries KV events over NATS.
    expect(config.runtime.eventPlane).toEqual({ backend: "nats", natsServers: "nats://10.0.0.2:4222" });
  });

  it("reads Dynamo's variables: DYN_ROUTER_MODE, DYN_HTTP_PORT, DYN_SYSTEM_PORT, DYN_MIGRATION_LIMIT", () => {
    const config = parse([], {
      DYN_ROUTER_MODE: "kv",
      DYN_HTTP_PORT: "8080",
      DYN_SYSTEM_PORT: "9090",
      DYN_MIGRATION_LIMIT: "0",
      DYN_KV_CACHE_BLOCK_SIZE: "32",
      DYN_TCP_RPC_HOST: "10.1.2.3",
      DYN_ACTIVE_DECODE_BLOCKS_THRESHOLD: "0.9",
    });
    expect(config.busyThresholds).toEqual({ activeDecodeBlocks: 0.9 });
    expect(config).toMatchObject({
      routerMode: "kv",
      httpPort: 8080,
      systemPort: 9090,
      migrationLimit: 0,
      blockSize: 32,
      advertiseHost: "10.1.2.3",
    });
    expect(parse(["--router-mode", "random"], { DYN_ROUTER_MODE: "kv" }).routerMode).toBe("random");
  });

  it("keeps --http-port for the API and --system-port for status, off by default", () => {
    const config = parse(["--http-port", "8000", "--system-port", "8081"]);
    expect(config).toMatchObject({ httpPort: 8000, systemPort: 8081 });
    expect(parse([]).systemPort).toBeUndefined();
    expect(parse([]).blockSize).toBeUndefined();
  });

  it("uses Kvasir's deliberate defaults: migration on; Anthropic API off as in Dynamo", () => {
    expect(parse([])).toMatchObject({ migrationLimit: 3, routerMode: "round-robin", httpPort: 8000 });
    expect(parse([])).toMatchObject({ enableAnthropicApi: false, stripAnthropicPreamble: false });
    expect(parse(["--enable-anthropic-api", "--strip-anthropic-preamble"])).toMatchObject({
      enableAnthropicApi: true,
      stripAnthropicPreamble: true,
    });
    expect(parse([], { DYN_ENABLE_ANTHROPIC_API: "true" }).enableAnthropicApi).toBe(true);
    expect(parse(["--responses-store-size", "0"]).responsesStore).toEqual({
      maxEntries: 0,
      ttlSeconds: 3600,
    });
  });

  it("refuses Dynamo flags Kvasir does not have, naming what to use instead", () => {
    expect(() => parse(["--load-aware"])).toThrow(/--router-kv-overlap-score-credit 0/);
    expect(() => parse([], { DYN_ROUTER_LOAD_AWARE: "true" })).toThrow(
      /DYN_ROUTER_LOAD_AWARE is not supported/,
    );
    expect(() => parse(["--serve-indexer"])).toThrow(/kvasir indexer/);
    // Dynamo's defaults for switches Kvasir lacks are Kvasir's behaviour, so they are accepted.
    expect(
      parse(["--no-load-aware", "--router-track-prefill-tokens"], { DYN_ROUTER_LOAD_AWARE: "false" })
        .httpPort,
    ).toBe(8000);
    expect(() => parse(["--no-router-track-prefill-tokens"])).toThrow(/cannot be turned off/);
    expect(() => parse(["--router-mode", "device-aware-weighted"])).toThrow(/must be one of round-robin/);
    expect(() => parse(["--kv-cache-block-size", "0"])).toThrow(/--kv-cache-block-size must be positive/);
  });
});
