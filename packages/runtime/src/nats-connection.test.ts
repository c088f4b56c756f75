import { describe, expect, it } from "vitest";
import { natsConnectionOptions } from "./nats-connection.js";

describe("natsConnectionOptions", () => {
  it("takes user and password out of the URLs and passes them as options", () => {
    const options = natsConnectionOptions("nats://alice:p%40ss@a:4222, nats://b:4222", "x");
    expect(options.servers).toEqual(["nats://a:4222", "nats://b:4222"]);
    expect(options).toMatchObject({ user: "alice", pass: "p@ss" });
    expect(options.token).toBeUndefined();
  });

  it("reads a lone userinfo as a token", () => {
    const options = natsConnectionOptions("nats://s3cr3t@a:4222", "x");
    expect(options).toMatchObject({ servers: ["nats://a:4222"], token: "s3cr3t" });
    expect(options.user).toBeUndefined();
  });

  it("prefers flags over the URL, and sets TLS from the CA and client certificate", () => {
    const options = natsConnectionOptions("nats://u:p@a:4222", "x", {
      user: "flag-user",
      password: "flag-pass",
      tlsCaPath: "/ca.pem",
      tlsCertPath: "/c.pem",
      tlsKeyPath: "/c.key",
    });
    expect(options).toMatchObject({
      user: "flag-user",
      pass: "flag-pass",
      tls: { caFile: "/ca.pem", certFile: "/c.pem", keyFile: "/c.key" },
    });
  });

  it("uses an NKey seed through an authenticator, and fails at once on a missing creds file", () => {
    expect(natsConnectionOptions("nats://a:4222", "x", { nkeySeed: "SUAM" }).authenticator).toBeTypeOf(
      "function",
    );
    expect(() => natsConnectionOptions("nats://a:4222", "x", { credsFile: "/no/such.creds" })).toThrow(
      /ENOENT/,
    );
  });

  it("leaves a plain URL list alone", () => {
    const options = natsConnectionOptions(undefined, "x");
    expect(options.servers).toEqual(["nats://127.0.0.1:4222"]);
    expect(options.user).toBeUndefined();
    expect(options.tls).toBeUndefined();
  });
});
