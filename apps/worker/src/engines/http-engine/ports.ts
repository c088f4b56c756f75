// Free loopback ports for an engine the worker starts: its HTTP port and its KV event sockets (one per dp rank,
// consecutive, since the engines offset the port by rank). A port is free when a listener can bind it now; the
// engine binds it moments later, so a race with another process is possible and shows up as a start failure.
import { createServer } from "node:net";

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A base port such that `count` consecutive ports from it are free on `host`. */
export async function freePortRange(
  count: number,
  host = "127.0.0.1",
  avoid: ReadonlySet<number> = new Set(),
): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    // Below Linux's default ephemeral range (32768+), so outgoing connections do not take them meanwhile.
    const base = 20000 + Math.floor(Math.random() * (32000 - 20000 - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = !avoid.has(p) && (await canBind(p, host));
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports on ${host}`);
}
