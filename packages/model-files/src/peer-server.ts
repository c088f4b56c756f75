// A worker's file server for its peers: serves byte ranges of the snapshot files in its cache, with its upload
// capped (`--model-peer-bandwidth`) so that feeding peers does not starve serving.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { errorMessage } from "./errors.js";
import { checkFilePath } from "./model-ref.js";
import type { FilesLog } from "./progress.js";
import { Throttle } from "./throttle.js";

export interface PeerServerOptions {
  /** The cache root (the directory holding `models--*`). */
  cacheDir: string;
  host: string;
  port: number;
  /** Upload cap in bytes per second, shared by all peers; none when undefined. */
  bandwidthBytesPerSecond?: number;
  log?: FilesLog;
  /** Told of every byte sent. */
  onBytes?: (n: number) => void;
}

export interface PeerServer {
  readonly port: number;
  close(): Promise<void>;
}

const ROUTE = /^\/files\/(models--[\w.-]+(?:--[\w.-]+)*)\/([\w.-]+)\/(.+)$/;

export async function startPeerServer(options: PeerServerOptions): Promise<PeerServer> {
  const throttle = options.bandwidthBytesPerSecond
    ? new Throttle(options.bandwidthBytesPerSecond)
    : undefined;
  const server: Server = createServer((req, res) => {
    serve(req, res).catch((error: unknown) => {
      options.log?.warn("peer file request failed", { url: req.url, error: errorMessage(error) });
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = req.method === "GET" ? ROUTE.exec((req.url ?? "").split("?")[0] ?? "") : null;
    if (!match?.[1] || !match[2] || !match[3]) return void res.writeHead(404).end();
    let path: string;
    try {
      path = checkFilePath(decodeURIComponent(match[3]));
    } catch {
      return void res.writeHead(400).end();
    }
    const file = join(options.cacheDir, match[1], "snapshots", decodeURIComponent(match[2]), path);
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return void res.writeHead(404).end();
    const range = parseRange(req.headers.range, info.size);
    if (range === "invalid")
      return void res.writeHead(416, { "content-range": `bytes */${info.size}` }).end();
    const [start, end] = range ?? [0, info.size];
    res.writeHead(range ? 206 : 200, {
      "content-length": String(end - start),
      "content-type": "application/octet-stream",
      ...(range ? { "content-range": `bytes ${start}-${end - 1}/${info.size}` } : {}),
    });
    if (end === start) return void res.end();
    const stream = createReadStream(file, { start, end: end - 1, highWaterMark: 256 * 1024 });
    req.on("close", () => stream.destroy());
    for await (const data of stream) {
      const buf = data as Buffer;
      if (throttle) await throttle.take(buf.length);
      if (res.destroyed) break;
      if (!res.write(buf)) await new Promise((resolve) => res.once("drain", resolve));
      options.onBytes?.(buf.length);
    }
    res.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` → `[start, end)`; undefined when absent; "invalid" when unsatisfiable. */
export function parseRange(
  header: string | undefined,
  size: number,
): [number, number] | undefined | "invalid" {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return "invalid";
  if (m[1] === "") {
    const n = Number(m[2]);
    return n === 0 ? "invalid" : [Math.max(0, size - n), size];
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size : Math.min(size, Number(m[2]) + 1);
  return start >= size || end <= start ? "invalid" : [start, end];
}
