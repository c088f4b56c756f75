// A locked-down deployment as separate processes: nats-server with a user and password (credentials in the
// --nats-server URL), worker, standalone router and frontend on a Connect plane with TLS (openssl-made CA) and a
// service token, the frontend's API behind --api-key. Every secret is looked for in every line the processes print.

import { readFileSync } from "node:fs";
import { request as httpsRequest, type RequestOptions } from "node:https";
import {
  BestWorkerRequestSchema,
  create,
  GenerateRequestSchema,
  RouterService,
  WorkerService,
} from "@kvasir/protocol";
import { createClient } from "@kvasir/runtime";
import {
  createTestPki,
  freePort,
  type NatsServer,
  type NodeProcess,
  startNatsServer,
  type TestPki,
} from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  kvasir,
  MODEL,
  startWorker,
  stopAll,
  type WorkerProcess,
  waitForInstances,
} from "./kvasir-processes.js";

const NATS_PASSWORD = "n4ts-Pa55word-xyz";
const SERVICE_TOKEN = "svc-T0ken-abc123";
const API_KEYS = ["api-key-one-111", "api-key-two-222"];
const SECRETS = [NATS_PASSWORD, SERVICE_TOKEN, ...API_KEYS];

let pki: TestPki;
let nats: NatsServer;
let worker: WorkerProcess;
let workerUrl: string;
let routerUrl: string;
let frontend: NodeProcess;
let baseUrl: string;
const everyProcess: NodeProcess[] = [];

const natsUrl = (password: string) => `nats://kvasir:${password}@127.0.0.1:${nats.port}`;
const planes = (password: string) => [
  "--discovery-backend",
  "nats",
  "--event-plane",
  "nats",
  "--nats-server",
  natsUrl(password),
  "--namespace",
  "secure-deployment",
  "--tls-ca-path",
  pki.caPath,
];
// The token comes from the environment, as a deployment would pass it.
const tokenEnv = { KVASIR_SERVICE_TOKEN: SERVICE_TOKEN };

beforeAll(async () => {
  pki = createTestPki();
  nats = await startNatsServer({ auth: { user: "kvasir", password: NATS_PASSWORD } });
  worker = await startWorker(
    [...planes(NATS_PASSWORD), "--tls-cert-path", pki.serverCertPath, "--tls-key-path", pki.serverKeyPath],
    tokenEnv,
  );
  everyProcess.push(worker.process);
  const ready = JSON.parse(await worker.process.waitForLine(/worker ready/)) as { local_url: string };
  workerUrl = ready.local_url;
  const tlsServer = ["--tls-cert-path", pki.serverCertPath, "--tls-key-path", pki.serverKeyPath];
  const router = await kvasir(["router", ...planes(NATS_PASSWORD), ...tlsServer], /router ready/, tokenEnv);
  everyProcess.push(router);
  routerUrl = (JSON.parse(await router.waitForLine(/router ready/)) as { url: string }).url;
  const port = await freePort();
  frontend = await kvasir(
    [
      "frontend",
      ...planes(NATS_PASSWORD),
      // Decisions from the standalone router: its calls carry the token over TLS too.
      "--router-mode",
      "kv",
      "--use-remote-router",
      "--http-host",
      "127.0.0.1",
      "--http-port",
      String(port),
      "--api-key",
      API_KEYS[0] ?? "",
      "--api-key",
      API_KEYS[1] ?? "",
      "--enable-anthropic-api",
    ],
    /frontend ready/,
    tokenEnv,
  );
  everyProcess.push(frontend);
  baseUrl = `http://127.0.0.1:${port}`;
  // /health answers without a key.
  await waitForInstances(baseUrl, [worker.instanceId]);
}, 40_000);

afterAll(async () => {
  await stopAll(everyProcess);
  await nats?.stop();
  pki?.remove();
});

function chatRequest(headers: Record<string, string>): Promise<Response> {
  return fetch(`${baseUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hello" }], max_tokens: 3 }),
    signal: AbortSignal.timeout(10_000),
  });
}

describe("a secured deployment", () => {
  it("registers the worker under https:// and serves it only to callers with the service token", async () => {
    expect(workerUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const request = create(GenerateRequestSchema, { requestId: "intruder", tokenIds: [1, 2, 3] });
    const anonymous = createClient(WorkerService, workerUrl, { caPath: pki.caPath });
    let refused = "";
    try {
      for await (const _ of anonymous.generate(request, { timeoutMs: 5000 })) {
      }
    } catch (error) {
      refused = String(error);
    }
    // Connect's message carries the code: UNAUTHENTICATED, not a transport failure.
    expect(refused).toMatch(/\[unauthenticated\] missing or wrong service token/);
  });

  it("refuses a RouterService caller without the token, so nobody else can book workers", async () => {
    expect(routerUrl).toMatch(/^https:\/\//);
    const anonymous = createClient(RouterService, routerUrl, { caPath: pki.caPath });
    const refused = await anonymous
      .bestWorker(
        create(BestWorkerRequestSchema, { requestId: "x", model: MODEL, tokenIds: [1], updateStates: true }),
      )
      .then(
        () => "booked",
        (error: unknown) => String(error),
      );
    expect(refused).toMatch(/\[unauthenticated\]/);
  });

  it("answers 401 in OpenAI's shape without a key or with a wrong one, and serves the right key", async () => {
    const none = await chatRequest({});
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({
      error: {
        message: expect.any(String),
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key",
      },
    });
    const wrong = await chatRequest({ authorization: "Bearer api-key-one-112" });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe("invalid_api_key");
    const models = await fetch(`${baseUrl}/v1/models`);
    expect(models.status).toBe(401);

    // The second key works too; the request crosses the TLS, token-checked Connect plane to the worker.
    const right = await chatRequest({ authorization: `Bearer ${API_KEYS[1]}` });
    expect(right.status).toBe(200);
    const body = (await right.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0]?.message.content.length).toBeGreaterThan(0);
  });

  it("takes x-api-key on /v1/messages and refuses in Anthropic's shape", async () => {
    const messages = (headers: Record<string, string>) =>
      fetch(`${baseUrl}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ model: MODEL, max_tokens: 3, messages: [{ role: "user", content: "hi" }] }),
        signal: AbortSignal.timeout(10_000),
      });
    const none = await messages({});
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({
      type: "error",
      error: { type: "authentication_error", message: expect.any(String) },
    });
    const ok = await messages({ "x-api-key": API_KEYS[0] ?? "" });
    expect(ok.status).toBe(200);
  });

  it("leaves /health, /live and /metrics open", async () => {
    for (const path of ["/health", "/live", "/metrics"])
      expect((await fetch(`${baseUrl}${path}`)).status).toBe(200);
  });

  it("serves the HTTP API over HTTPS, asking for client certificates with --tls-client-ca-cert-path", async () => {
    const port = await freePort();
    const secure = await kvasir(
      [
        "frontend",
        ...planes(NATS_PASSWORD),
        "--http-host",
        "127.0.0.1",
        "--http-port",
        String(port),
        "--tls-cert-path",
        pki.serverCertPath,
        "--tls-key-path",
        pki.serverKeyPath,
        "--tls-client-ca-cert-path",
        pki.caPath,
      ],
      /frontend ready/,
      tokenEnv,
    );
    everyProcess.push(secure);
    const ready = JSON.parse(await secure.waitForLine(/frontend ready/)) as { url: string };
    expect(ready.url).toBe(`https://127.0.0.1:${port}`);
    const get = (tls: RequestOptions) =>
      new Promise<number>((resolve, reject) => {
        const req = httpsRequest(
          { host: "127.0.0.1", port, path: "/live", ca: readFileSync(pki.caPath), ...tls },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end();
      });
    const withCert = { cert: readFileSync(pki.clientCertPath), key: readFileSync(pki.clientKeyPath) };
    expect(await get(withCert)).toBe(200);
    await expect(get({})).rejects.toThrow(/certificate|socket|reset/i);
    // Beyond loopback it would warn; on 127.0.0.1 without --api-key it stays quiet.
    expect([...secure.stdout, ...secure.stderr].some((line) => line.includes("beyond loopback"))).toBe(false);
  });

  it("fails start-up on a wrong NATS password with a clear, redacted message", async () => {
    const badPassword = "wr0ng-Pa55word-qq";
    const bad = await kvasir(["worker", "--backend", "mocker", ...planes(badPassword)], /./, tokenEnv);
    everyProcess.push(bad);
    const status = await bad.exited;
    expect(status.code).not.toBe(0);
    const output = [...bad.stdout, ...bad.stderr].join("\n");
    expect(output).toContain("cannot connect to NATS at nats://kvasir:***@127.0.0.1");
    expect(output).toMatch(/authorization|credentials/i);
    expect(output).not.toContain(badPassword);
  });

  it("never prints a secret", () => {
    const lines = everyProcess.flatMap((p) => [...p.stdout, ...p.stderr]);
    expect(lines.length).toBeGreaterThan(5);
    // The failed start-up quoted the NATS URL, redacted; no secret appears anywhere else either.
    expect(lines.some((line) => line.includes("nats://kvasir:***@"))).toBe(true);
    for (const secret of SECRETS) expect(lines.filter((line) => line.includes(secret))).toEqual([]);
  });
});
