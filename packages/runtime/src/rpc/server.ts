import { readFileSync } from "node:fs";
import {
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type ServerHttp2Session,
} from "node:http2";
import type { AddressInfo } from "node:net";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

export interface ConnectServerOptions {
  /** Bind address; default 127.0.0.1. */
  host?: string;
  /** Default 0: the OS picks a free port. */
  port?: number;
  routes: (router: ConnectRouter) => void;
  interceptors?: Interceptor[];
  /** Serve HTTP/2 over TLS (PEM files) instead of cleartext h2c; with `clientCaPath`, clients need a certificate it signed. */
  tls?: { certPath: string; keyPath: string; clientCaPath?: string };
}

export interface ConnectServer {
  /** Base URL for clients, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly port: number;
  /**
   * Stops accepting connections and streams, lets in-flight streams finish for up to `graceMs` (default 30 s),
   * then cuts the rest (their handlers see their signal aborted).
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** Serves Connect routes over HTTP/2; the adapter answers gRPC, gRPC-Web and Connect requests alike. */
export async function startConnectServer(options: ConnectServerOptions): Promise<ConnectServer> {
  const host = options.host ?? "127.0.0.1";
  const handler = connectNodeAdapter({
    routes: options.routes,
    ...(options.interceptors ? { interceptors: options.interceptors } : {}),
  });
  const server: Http2Server | Http2SecureServer = options.tls
    ? createSecureServer(
        {
          cert: readFileSync(options.tls.certPath),
          key: readFileSync(options.tls.keyPath),
          allowHTTP1: true,
          ...(options.tls.clientCaPath
            ? { ca: readFileSync(options.tls.clientCaPath), requestCert: true, rejectUnauthorized: true }
            : {}),
        },
        handler,
      )
    : createServer(handler);

  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const url = `${options.tls ? "https" : "http"}://${urlHost}:${port}`;

  let closing: Promise<void> | undefined;
  let deadline = Number.POSITIVE_INFINITY;
  let graceTimer: NodeJS.Timeout | undefined;
  let graceOver: () => void = () => {};
  const graceEnded = new Promise<void>((resolve) => {
    graceOver = resolve;
  });
  return {
    url,
    port,
    close({ graceMs = 30_000 } = {}) {
      // A later call with a shorter grace period (a second SIGTERM, a test's cleanup) brings the cut forward.
      if (Date.now() + graceMs < deadline) {
        deadline = Date.now() + graceMs;
        clearTimeout(graceTimer);
        graceTimer = setTimeout(graceOver, graceMs);
      }
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        // GOAWAY: clients open no new streams here; streams already running go on until they finish.
        for (const session of sessions) session.close();
        await Promise.race([waitUntilEmpty(sessions), graceEnded]);
        clearTimeout(graceTimer);
        for (const session of sessions) session.destroy();
        await serverClosed;
      })();
      return closing;
    },
  };
}

async function waitUntilEmpty(sessions: Set<ServerHttp2Session>): Promise<void> {
  while (sessions.size > 0) {
    await Promise.race(
      [...sessions].map((session) => new Promise((resolve) => session.once("close", resolve))),
    );
  }
}
