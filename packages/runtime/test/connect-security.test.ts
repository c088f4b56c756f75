// TLS, mutual TLS and the service token on the Connect plane, against real HTTP/2 servers on loopback with a CA
// and certificates made by openssl for the test.
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { create, GenerateRequestSchema, GenerateResponseSchema, WorkerService } from "@kvasir/protocol";
import { createTestPki, type TestPki } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ClientOptions,
  type ConnectSecurity,
  type ConnectServer,
  createClient,
  type RuntimeConfig,
  startComponent,
  startConnectServer,
} from "../src/index.js";

const worker: Partial<ServiceImpl<typeof WorkerService>> = {
  async *generate(request) {
    yield create(GenerateResponseSchema, { tokenIds: [request.tokenIds[0] ?? 0] });
  },
};
const routes = (r: Parameters<NonNullable<Parameters<typeof startConnectServer>[0]["routes"]>>[0]) =>
  r.service(WorkerService, worker);

/** One Generate call; resolves to the token it returns, or rejects with the ConnectError. */
async function call(url: string, options: ClientOptions): Promise<number[]> {
  const client = createClient(WorkerService, url, options);
  const out: number[] = [];
  for await (const step of client.generate(
    create(GenerateRequestSchema, { requestId: "r", tokenIds: [42] }),
    {
      timeoutMs: 5000,
    },
  ))
    out.push(...step.tokenIds);
  return out;
}

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("the call succeeded");
}

let pki: TestPki;
const servers: ConnectServer[] = [];
beforeAll(() => {
  pki = createTestPki();
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close({ graceMs: 0 })));
  pki.remove();
});

describe("TLS on the Connect plane", () => {
  it("serves a client that trusts the CA and is refused by one that does not", async () => {
    const server = await startConnectServer({
      routes,
      tls: { certPath: pki.serverCertPath, keyPath: pki.serverKeyPath },
    });
    servers.push(server);
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await call(server.url, { caPath: pki.caPath })).toEqual([42]);
    // Without the CA the server's certificate is unknown: the client refuses it.
    const refused = await failure(call(server.url, {}));
    expect(refused.message).toMatch(/unable to verify|self[- ]signed/i);
    // And a cleartext client gets nowhere with a TLS server.
    const plain = await failure(call(server.url.replace("https:", "http:"), {}));
    expect([Code.Canceled, Code.Unavailable, Code.Internal]).toContain(plain.code);
  });

  it("with a client CA (mutual TLS) refuses a client without a certificate and serves one with", async () => {
    const server = await startConnectServer({
      routes,
      tls: { certPath: pki.serverCertPath, keyPath: pki.serverKeyPath, clientCaPath: pki.caPath },
    });
    servers.push(server);
    const anonymous = await failure(call(server.url, { caPath: pki.caPath }));
    expect(anonymous.message).toMatch(/certificate required/i);
    expect(
      await call(server.url, {
        caPath: pki.caPath,
        certPath: pki.clientCertPath,
        keyPath: pki.clientKeyPath,
      }),
    ).toEqual([42]);
  });
});

describe("the component host", () => {
  const runtime = (connect: ConnectSecurity): RuntimeConfig => ({
    namespace: "connect-security",
    discovery: { backend: "memory" },
    eventPlane: { backend: "memory" },
    logLevel: "error",
    connect,
  });

  it("serves TLS, registers https:// and refuses calls without the service token (UNAUTHENTICATED)", async () => {
    const warnings: string[] = [];
    const log = { info: () => {}, warn: (m: string) => warnings.push(m), error: () => {} };
    const security: ConnectSecurity = {
      tls: { certPath: pki.serverCertPath, keyPath: pki.serverKeyPath },
      caPath: pki.caPath,
      serviceToken: "s3rvice-token",
    };
    await startComponent({ component: "backend", runtime: runtime(security), log }, async (host) => {
      try {
        const server = await host.serveConnect({ host: "127.0.0.1", port: 0, routes, drainMs: 0 });
        expect(server.url).toMatch(/^https:\/\//);
        expect(server.localUrl).toMatch(/^https:\/\//);
        // The host's own client options carry the CA and the token: served.
        expect(host.clientOptions).toEqual({ caPath: pki.caPath, serviceToken: "s3rvice-token" });
        expect(await call(server.localUrl, host.clientOptions)).toEqual([42]);
        const without = await failure(call(server.localUrl, { caPath: pki.caPath }));
        expect(without.code).toBe(Code.Unauthenticated);
        const wrong = await failure(
          call(server.localUrl, { caPath: pki.caPath, serviceToken: "s3rvice-tokem" }),
        );
        expect(wrong.code).toBe(Code.Unauthenticated);
        expect(warnings).toEqual([]);
      } finally {
        await host.stop();
      }
    });
  });

  it("warns once when a Connect server listens beyond loopback without TLS or a token", async () => {
    const warnings: string[] = [];
    const log = { info: () => {}, warn: (m: string) => warnings.push(m), error: () => {} };
    await startComponent({ component: "backend", runtime: runtime({}), log }, async (host) => {
      try {
        await host.serveConnect({ host: "0.0.0.0", port: 0, routes, drainMs: 0 });
        await host.serveConnect({ host: "127.0.0.1", port: 0, routes, drainMs: 0 });
      } finally {
        await host.stop();
      }
    });
    expect(warnings).toEqual(["Connect server listens beyond loopback without TLS or authentication"]);
  });
});
