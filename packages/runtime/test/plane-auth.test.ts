// Credentials and TLS on the NATS and etcd planes, against real servers that require them: the right settings
// connect, the wrong ones fail at once with a message that names the server but never the secret.
import {
  createTestPki,
  type EtcdServer,
  type NatsServer,
  startEtcdServer,
  startNatsServer,
  type TestPki,
  waitFor,
} from "@kvasir/testing";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDiscovery, createEventPlane, type EventPlane } from "../src/index.js";

let pki: TestPki;
beforeAll(() => {
  pki = createTestPki();
});
afterAll(() => pki.remove());

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  throw new Error("it connected");
}

/** A message published on one plane arrives on the other. */
async function roundTrip(a: EventPlane, b: EventPlane): Promise<void> {
  const got: string[] = [];
  const sub = b.subscribe("kvasir.auth.test", (m) => got.push(new TextDecoder().decode(m.data)));
  await waitFor(
    async () => {
      a.publish("kvasir.auth.test", new TextEncoder().encode("hi"));
      return got.length > 0;
    },
    { timeoutMs: 5000, intervalMs: 50, message: "a message over the authenticated connection" },
  );
  sub.unsubscribe();
}

describe("NATS with a token", () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNatsServer({ auth: { token: "t0ken-in-url" } });
  });
  afterAll(() => nats?.stop());

  it("connects with the token in the URL or as an option, and redacts a wrong one", async () => {
    const inUrl = await createEventPlane({
      backend: "nats",
      natsServers: `nats://t0ken-in-url@127.0.0.1:${nats.port}`,
    });
    const asOption = await createEventPlane({
      backend: "nats",
      natsServers: nats.url,
      natsAuth: { token: "t0ken-in-url" },
    });
    try {
      await roundTrip(inUrl, asOption);
    } finally {
      await inUrl.close();
      await asOption.close();
    }
    const message = await rejection(
      createEventPlane({ backend: "nats", natsServers: `nats://wr0ng-t0ken@127.0.0.1:${nats.port}` }),
    );
    expect(message).toContain(`cannot connect to NATS at nats://***@127.0.0.1:${nats.port}`);
    expect(message).toMatch(/authorization/i);
    expect(message).not.toContain("wr0ng-t0ken");
  });
});

describe("NATS over TLS with a user and password", () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNatsServer({
      auth: { user: "kvasir", password: "tls-pa55" },
      tls: { certPath: pki.serverCertPath, keyPath: pki.serverKeyPath },
    });
  });
  afterAll(() => nats?.stop());

  it("connects discovery with the CA (NATS_TLS_CA_CERT_PATH) and fails without it", async () => {
    const discovery = await createDiscovery({
      backend: "nats",
      natsServers: nats.url,
      natsAuth: { user: "kvasir", password: "tls-pa55", tlsCaPath: pki.caPath },
      ttlMs: 3000,
    });
    try {
      await discovery.register("v1/instances/ns/backend/generate/1", { address: "x" });
      expect(await discovery.list("v1/instances/ns/")).toHaveLength(1);
    } finally {
      await discovery.close();
    }
    const message = await rejection(
      createEventPlane({
        backend: "nats",
        natsServers: nats.url,
        natsAuth: { user: "kvasir", password: "tls-pa55" },
      }),
    );
    expect(message).toMatch(/cannot connect to NATS/);
    expect(message).not.toContain("tls-pa55");
  });
});

describe("etcd with a user and password", () => {
  let etcd: EtcdServer;
  beforeAll(async () => {
    etcd = await startEtcdServer();
    // etcd turns authentication on once a root user with the root role exists.
    const admin = new Etcd3({ hosts: etcd.url });
    await admin.role("root").create();
    await admin.user("root").create("r00t-pa55");
    await admin.user("root").addRole("root");
    await admin.auth.authEnable();
    admin.close();
  });
  afterAll(() => etcd?.stop());

  it("registers with ETCD_AUTH_USERNAME/PASSWORD and refuses a wrong password without printing it", async () => {
    const discovery = await createDiscovery({
      backend: "etcd",
      etcdEndpoints: etcd.url,
      etcdAuth: { user: "root", password: "r00t-pa55" },
      ttlMs: 3000,
    });
    try {
      await discovery.register("v1/instances/ns/backend/generate/2", { address: "y" });
      expect(await discovery.list("v1/instances/ns/")).toHaveLength(1);
    } finally {
      await discovery.close();
    }
    const message = await rejection(
      createDiscovery({
        backend: "etcd",
        etcdEndpoints: etcd.url,
        etcdAuth: { user: "root", password: "n0t-the-pa55" },
        ttlMs: 3000,
      }),
    );
    expect(message).toMatch(/cannot connect to etcd .*credentials/);
    expect(message).not.toContain("n0t-the-pa55");
  });
});

describe("etcd over TLS", () => {
  let etcd: EtcdServer;
  beforeAll(async () => {
    etcd = await startEtcdServer({ tls: { certPath: pki.serverCertPath, keyPath: pki.serverKeyPath } });
  });
  afterAll(() => etcd?.stop());

  it("registers with the CA (ETCD_AUTH_CA) and fails without it", async () => {
    expect(etcd.url).toMatch(/^https:\/\//);
    const discovery = await createDiscovery({
      backend: "etcd",
      etcdEndpoints: etcd.url,
      etcdAuth: { caPath: pki.caPath },
      ttlMs: 3000,
    });
    try {
      await discovery.register("v1/instances/ns/backend/generate/3", { address: "z" });
      expect(await discovery.list("v1/instances/ns/")).toHaveLength(1);
    } finally {
      await discovery.close();
    }
    const message = await rejection(
      createDiscovery({ backend: "etcd", etcdEndpoints: etcd.url, ttlMs: 3000 }),
    );
    expect(message).toMatch(/cannot connect to etcd at https:\/\/127\.0\.0\.1/);
  });
});
