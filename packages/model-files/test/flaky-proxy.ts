// A TCP proxy on loopback that cuts one connection after it has carried `bytes` bytes back to the client: a
// network that drops a download mid-file, in front of a real server (s3rver).

import type { AddressInfo } from "node:net";
import { connect, createServer, type Server, type Socket } from "node:net";

export interface FlakyProxy {
  readonly url: string;
  /** The next connection to carry this many response bytes is cut (once). */
  dropNextAfter(bytes: number): void;
  readonly drops: number;
  close(): Promise<void>;
}

export async function startFlakyProxy(targetPort: number): Promise<FlakyProxy> {
  let dropAfter: number | undefined;
  let drops = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    let carried = 0;
    client.pipe(upstream);
    upstream.on("data", (data: Buffer) => {
      carried += data.length;
      if (dropAfter !== undefined && carried > dropAfter) {
        dropAfter = undefined;
        drops++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(data);
    });
    upstream.on("end", () => client.end());
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    dropNextAfter: (bytes) => {
      dropAfter = bytes;
    },
    get drops() {
      return drops;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
