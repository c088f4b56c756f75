import { createServer, Socket } from "node:net";

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it; the caller binds it soon after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("freePort: no port assigned"));
      });
    });
  });
}

/**
 * Connects to 127.0.0.1:port, optionally writes `send`, and resolves with the first bytes the peer sends
 * (empty string when the connection closes first). Rejects when the connection is refused.
 */
export function probeTcp(port: number, send?: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    const done = (error: Error | undefined, text = "") => {
      socket.destroy();
      if (error) reject(error);
      else resolve(text);
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`probe of port ${port} timed out`)));
    socket.once("error", (error) => done(error));
    socket.once("data", (data) => done(undefined, data.toString("utf8")));
    socket.once("close", () => done(undefined));
    socket.connect(port, "127.0.0.1", () => {
      if (send !== undefined) socket.write(send);
    });
  });
}
