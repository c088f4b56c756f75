import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient as createRawClient, type ServiceImpl } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { credentials, Client as GrpcClient, status as grpcStatus, Metadata } from "@grpc/grpc-js";
import {
  create,
  fromBinary,
  type GenerateRequest,
  GenerateRequestSchema,
  type GenerateResponse,
  GenerateResponseSchema,
  toBinary,
  WorkerService,
} from "@kvasir/protocol";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type ConnectServer, createClient, startConnectServer } from "../src/index.js";

/** A controllable stand-in for a worker: one token per step; "gated" requests wait for the test between steps. */
class TestWorker {
  private openGate: () => void = () => {};
  private readonly gate = new Promise<void>((resolve) => {
    this.openGate = resolve;
  });
  aborted: string[] = [];
  started: string[] = [];

  release(): void {
    this.openGate();
  }

  impl(): Partial<ServiceImpl<typeof WorkerService>> {
    const worker = this;
    return {
      async *generate(request, context) {
        if (request.tokenIds.length === 0) throw new ConnectError("empty prompt", Code.InvalidArgument);
        worker.started.push(request.requestId);
        const onAbort = () => worker.aborted.push(request.requestId);
        context.signal.addEventListener("abort", onAbort);
        try {
          const count = request.stop?.maxTokens ?? 1;
          for (let i = 0; i < count; i++) {
            if (request.requestId.startsWith("gated") && i === 1) await worker.gate;
            yield create(GenerateResponseSchema, { tokenIds: [request.tokenIds[0] ?? 0, i] });
          }
        } finally {
          // The signal also fires when a call completes normally; only an abort mid-stream counts.
          context.signal.removeEventListener("abort", onAbort);
        }
      },
    };
  }
}

function request(requestId: string, maxTokens: number, tokenIds = [7]) {
  return create(GenerateRequestSchema, { requestId, tokenIds, stop: { maxTokens } });
}

async function drain(stream: AsyncIterable<GenerateResponse>): Promise<number[][]> {
  const out: number[][] = [];
  for await (const response of stream) out.push(response.tokenIds);
  return out;
}

const servers: ConnectServer[] = [];
async function serve(
  worker: TestWorker,
  tls?: { certPath: string; keyPath: string },
): Promise<ConnectServer> {
  const server = await startConnectServer({
    routes: (router) => router.service(WorkerService, worker.impl()),
    ...(tls ? { tls } : {}),
  });
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close({ graceMs: 0 })));
});

describe("Connect server and client over HTTP/2", () => {
  it("streams Generate over gRPC, and the server also answers Connect and gRPC-Web", async () => {
    const server = await serve(new TestWorker());
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    const expected = [
      [7, 0],
      [7, 1],
      [7, 2],
    ];
    const client = createClient(WorkerService, server.url);
    expect(await drain(client.generate(request("grpc", 3)))).toEqual(expected);
    for (const transport of [
      createConnectTransport({ baseUrl: server.url, httpVersion: "2" }),
      createGrpcWebTransport({ baseUrl: server.url, httpVersion: "2" }),
    ]) {
      expect(await drain(createRawClient(WorkerService, transport).generate(request("other", 3)))).toEqual(
        expected,
      );
    }
  });

  it("serves the reference gRPC client (@grpc/grpc-js), including errors as gRPC status codes", async () => {
    const server = await serve(new TestWorker());
    const client = new GrpcClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
    const call = (req: GenerateRequest) =>
      client.makeServerStreamRequest(
        `/${WorkerService.typeName}/Generate`,
        (message: GenerateRequest) => Buffer.from(toBinary(GenerateRequestSchema, message)),
        (bytes: Buffer) => fromBinary(GenerateResponseSchema, bytes),
        req,
        new Metadata(),
      );
    try {
      expect(await drain(call(request("grpc-js", 3)))).toEqual([
        [7, 0],
        [7, 1],
        [7, 2],
      ]);
      const error = await drain(call(request("grpc-js-bad", 1, []))).catch(
        (e: { code: number; details: string }) => e,
      );
      expect(error).toMatchObject({ code: grpcStatus.INVALID_ARGUMENT, details: "empty prompt" });
    } finally {
      client.close();
    }
  });

  it("carries handler errors as Connect codes", async () => {
    const server = await serve(new TestWorker());
    const client = createClient(WorkerService, server.url);
    const error = await drain(client.generate(request("bad", 1, []))).catch((e: unknown) =>
      ConnectError.from(e),
    );
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toBe("empty prompt");
  });

  it("graceful close lets an in-flight stream finish and refuses new calls", async () => {
    const worker = new TestWorker();
    const server = await serve(worker);
    const client = createClient(WorkerService, server.url);
    const received: number[][] = [];
    const inFlight = (async () => {
      for await (const response of client.generate(request("gated-drain", 4)))
        received.push(response.tokenIds);
    })();
    while (received.length === 0) await new Promise((resolve) => setImmediate(resolve));

    let closed = false;
    const closing = server.close({ graceMs: 30_000 }).then(() => {
      closed = true;
    });
    const refused = await drain(client.generate(request("late", 1))).catch((e: unknown) =>
      ConnectError.from(e),
    );
    // Refused before reaching the handler: by GOAWAY (Unavailable) or, racing it, REFUSED_STREAM (Internal).
    expect(refused).toBeInstanceOf(ConnectError);
    expect(worker.started).toEqual(["gated-drain"]);
    expect(closed).toBe(false);

    worker.release();
    await inFlight;
    await closing;
    expect(received).toEqual([
      [7, 0],
      [7, 1],
      [7, 2],
      [7, 3],
    ]);
    expect(worker.aborted).toEqual([]);
  });

  it("cuts streams still running when the grace period ends", async () => {
    const worker = new TestWorker();
    const server = await serve(worker);
    const client = createClient(WorkerService, server.url);
    let first = false;
    const stuck = (async () => {
      for await (const _ of client.generate(request("gated-stuck", 3))) first = true;
    })().then(
      () => undefined,
      (error: unknown) => ConnectError.from(error),
    );
    while (!first) await new Promise((resolve) => setImmediate(resolve));
    await server.close({ graceMs: 100 });
    expect((await stuck)?.code).toBe(Code.Canceled);
    expect(worker.aborted).toEqual(["gated-stuck"]);
  });

  describe("with TLS", () => {
    const dir = mkdtempSync(join(tmpdir(), "kvasir-tls-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("serves https when given a certificate and key", async () => {
      const certPath = join(dir, "cert.pem");
      const keyPath = join(dir, "key.pem");
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=127.0.0.1",
          "-addext",
          "subjectAltName=IP:127.0.0.1",
          "-keyout",
          keyPath,
          "-out",
          certPath,
        ],
        { stdio: "ignore" },
      );
      const server = await serve(new TestWorker(), { certPath, keyPath });
      expect(server.url).toBe(`https://127.0.0.1:${server.port}`);
      const client = createClient(WorkerService, server.url, { caPath: certPath });
      expect(await drain(client.generate(request("tls", 2)))).toEqual([
        [7, 0],
        [7, 1],
      ]);
    });
  });
});
