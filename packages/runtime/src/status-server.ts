import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface StatusServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** Body of /health; `ready: false` answers 503 (draining or not yet serving). */
  health: () => { ready: boolean } & Record<string, unknown>;
  /** Prometheus text of /metrics. */
  metrics: () => Promise<string>;
}

export interface StatusServer {
  readonly url: string;
  close(): Promise<void>;
}

const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * The HTTP/1.1 status server of a service (Dynamo's system server): `/health`, `/live` and `/metrics`, so that
 * Kubernetes probes and Prometheus scrape every component the same way.
 */
export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const host = options.host ?? "127.0.0.1";
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    if (req.method !== "GET") return reply(405, "application/json", '{"error":"method not allowed"}');
    if (path === "/live") return reply(200, "application/json", '{"status":"live"}');
    if (path === "/health") {
      const health = options.health();
      const body = JSON.stringify({ status: health.ready ? "ready" : "notready", ...health });
      return reply(health.ready ? 200 : 503, "application/json", body);
    }
    if (path === "/metrics") {
      options.metrics().then(
        (text) => reply(200, PROMETHEUS_CONTENT_TYPE, text),
        (error: unknown) => reply(500, "text/plain", String(error)),
      );
      return;
    }
    reply(404, "application/json", '{"error":"not found"}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
