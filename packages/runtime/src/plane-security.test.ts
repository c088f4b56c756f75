import { describe, expect, it } from "vitest";
import { runtimeConfigFromFlags, runtimeFlags } from "./config.js";
import { FlagError } from "./flags.js";

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  runtimeConfigFromFlags(runtimeFlags.parse(argv, env));

describe("plane security flags", () => {
  it("turn on Connect TLS, default the client certificate to the server's, and read the token from the env", () => {
    const config = parse(
      ["--tls-cert-path", "/s.pem", "--tls-key-path", "/s.key", "--tls-ca-path", "/ca.pem"],
      { KVASIR_SERVICE_TOKEN: "tok" },
    );
    expect(config.connect).toEqual({
      tls: { certPath: "/s.pem", keyPath: "/s.key" },
      caPath: "/ca.pem",
      clientCertPath: "/s.pem",
      clientKeyPath: "/s.key",
      serviceToken: "tok",
    });
  });

  it("leave the Connect plane open and carry no auth when nothing is set", () => {
    const config = parse([]);
    expect(config.connect).toBeUndefined();
    expect(config.discovery.natsAuth).toBeUndefined();
    expect(config.eventPlane.natsAuth).toBeUndefined();
  });

  it("refuse half a pair and a client CA without a server certificate", () => {
    expect(() => parse(["--tls-cert-path", "/s.pem"])).toThrow(FlagError);
    expect(() => parse(["--tls-client-ca-cert-path", "/ca.pem"])).toThrow(/needs --tls-cert-path/);
    expect(() => parse([], { NATS_AUTH_USERNAME: "u" })).toThrow(/nats-auth-password/);
  });

  it("read Dynamo's NATS_AUTH_*, NATS_TLS_* and ETCD_AUTH_* variables into both planes", () => {
    const config = parse([], {
      NATS_AUTH_USERNAME: "u",
      NATS_AUTH_PASSWORD: "p",
      NATS_TLS_CA_CERT_PATH: "/nca.pem",
      ETCD_AUTH_USERNAME: "eu",
      ETCD_AUTH_PASSWORD: "ep",
      ETCD_AUTH_CA: "/eca.pem",
    });
    const nats = { user: "u", password: "p", tlsCaPath: "/nca.pem" };
    expect(config.discovery.natsAuth).toEqual(nats);
    expect(config.eventPlane.natsAuth).toEqual(nats);
    expect(config.discovery.etcdAuth).toEqual({ user: "eu", password: "ep", caPath: "/eca.pem" });
  });
});
