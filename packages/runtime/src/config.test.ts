import { describe, expect, it } from "vitest";
import { runtimeConfigFromFlags, runtimeFlags } from "./config.js";
import { parseFlags } from "./flags.js";

describe("runtime config", () => {
  it("defaults to Dynamo's namespace and the in-process planes", () => {
    const config = runtimeConfigFromFlags(parseFlags(runtimeFlags.specs, [], {}));
    expect(config).toMatchObject({
      namespace: "dynamo",
      discovery: {
        backend: "memory",
        natsServers: "nats://127.0.0.1:4222",
        ttlMs: 10_000,
        bucket: "kvasir_discovery",
      },
      eventPlane: { backend: "memory", natsServers: "nats://127.0.0.1:4222" },
      logLevel: "info",
    });
    expect(config.discovery.filePath).toMatch(/discovery\.json$/);
  });

  it("maps flags and Dynamo's environment variables", () => {
    const argv = [
      "--discovery-backend",
      "nats",
      "--event-plane",
      "nats",
      "--discovery-ttl",
      "1.5",
      "--namespace",
      "n",
    ];
    const config = runtimeConfigFromFlags(
      parseFlags(runtimeFlags.specs, argv, { NATS_SERVER: "nats://10.0.0.1:4222" }),
    );
    expect(config.namespace).toBe("n");
    expect(config.discovery).toMatchObject({
      backend: "nats",
      natsServers: "nats://10.0.0.1:4222",
      ttlMs: 1500,
    });
    expect(config.eventPlane).toEqual({ backend: "nats", natsServers: "nats://10.0.0.1:4222" });
    const fromEnv = parseFlags(runtimeFlags.specs, [], {
      DYN_NAMESPACE: "dyn",
      KVASIR_NATS_SERVER: "nats://a:1",
    });
    expect(fromEnv).toMatchObject({ namespace: "dyn", "nats-server": "nats://a:1" });
  });

  it("takes etcd discovery as the dstack recipe configures it: --discovery-backend etcd and ETCD_ENDPOINTS", () => {
    const env = { ETCD_ENDPOINTS: "http://10.0.0.5:2379", DYN_DISCOVERY_BACKEND: "nats" };
    const config = runtimeConfigFromFlags(
      parseFlags(runtimeFlags.specs, ["--discovery-backend", "etcd"], env),
    );
    expect(config.discovery).toMatchObject({ backend: "etcd", etcdEndpoints: "http://10.0.0.5:2379" });
    const defaults = runtimeConfigFromFlags(
      parseFlags(runtimeFlags.specs, [], { DYN_DISCOVERY_BACKEND: "etcd" }),
    );
    expect(defaults.discovery).toMatchObject({ backend: "etcd", etcdEndpoints: "http://127.0.0.1:2379" });
  });

  it("defaults the event plane as Dynamo does: NATS with nats or etcd discovery, in-process otherwise", () => {
    const planeOf = (argv: string[], env = {}) =>
      runtimeConfigFromFlags(parseFlags(runtimeFlags.specs, argv, env)).eventPlane.backend;
    expect(planeOf([])).toBe("memory");
    expect(planeOf(["--discovery-backend", "file"])).toBe("memory");
    expect(planeOf(["--discovery-backend", "etcd"])).toBe("nats");
    expect(planeOf([], { DYN_DISCOVERY_BACKEND: "nats" })).toBe("nats");
    expect(planeOf(["--discovery-backend", "etcd", "--event-plane", "memory"])).toBe("memory");
    expect(planeOf(["--discovery-backend", "etcd"], { DYN_EVENT_PLANE: "memory" })).toBe("memory");
  });

  it("rejects a non-positive TTL and unknown backends", () => {
    expect(() =>
      runtimeConfigFromFlags(parseFlags(runtimeFlags.specs, ["--discovery-ttl", "0"], {})),
    ).toThrow(/positive/);
    expect(() => parseFlags(runtimeFlags.specs, ["--discovery-backend", "kubernetes"], {})).toThrow(
      /must be one of memory, file/,
    );
    expect(() => runtimeConfigFromFlags({ "event-plane": "zmq" })).toThrow(/memory, nats/);
  });
});
