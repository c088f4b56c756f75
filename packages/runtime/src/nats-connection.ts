import { connect, type NatsConnection } from "nats";
import { DEFAULT_NATS_SERVER } from "./config.js";

/** Connects to NATS (comma-separated server URLs), reconnecting forever once connected. */
export function connectNats(servers: string | undefined, name: string): Promise<NatsConnection> {
  const list = (servers ?? DEFAULT_NATS_SERVER)
    .split(",")
    .map((server) => server.trim())
    .filter(Boolean);
  return connect({ servers: list, name, maxReconnectAttempts: -1, reconnectTimeWait: 250 }).catch(
    (error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(
        `cannot connect to NATS at ${list.join(",")} (${reason}); is nats-server running (--nats-server)?`,
      );
    },
  );
}

/** Drains (delivering what is buffered) and closes, tolerating a connection that is already closed. */
export async function drainNats(connection: NatsConnection): Promise<void> {
  if (connection.isClosed()) return;
  await connection.drain().catch(() => connection.close());
}
