import { type MsgHdrs, type NatsConnection, headers as natsHeaders } from "nats";
import { connectNats, drainNats } from "../nats-connection.js";
import type { NatsAuth } from "../plane-security.js";
import { assertSubject } from "../subjects.js";
import { reportHandlerError } from "./report.js";
import type { EventMessage, EventPlane, Subscription } from "./types.js";

/** Event plane over NATS core pub/sub; headers travel as NATS message headers. */
export class NatsEventPlane implements EventPlane {
  private constructor(private readonly connection: NatsConnection) {}

  static async open(natsServers: string | undefined, natsAuth?: NatsAuth): Promise<NatsEventPlane> {
    return new NatsEventPlane(await connectNats(natsServers, "kvasir-events", natsAuth));
  }

  publish(subject: string, data: Uint8Array, headers?: Record<string, string>): void {
    assertSubject(subject, false);
    // Fire and forget: once the connection is closing, messages are dropped rather than thrown at the publisher.
    if (this.connection.isClosed() || this.connection.isDraining()) return;
    const entries = headers ? Object.entries(headers) : [];
    if (entries.length === 0) {
      this.connection.publish(subject, data);
      return;
    }
    const h = natsHeaders();
    for (const [name, value] of entries) h.set(name, value);
    this.connection.publish(subject, data, { headers: h });
  }

  subscribe(pattern: string, handler: (message: EventMessage) => void): Subscription {
    assertSubject(pattern, true);
    const subscription = this.connection.subscribe(pattern, {
      callback: (error, msg) => {
        if (error) return;
        try {
          handler({ subject: msg.subject, data: msg.data, headers: headerRecord(msg.headers) });
        } catch (handlerError) {
          reportHandlerError(msg.subject, handlerError);
        }
      },
    });
    return { unsubscribe: () => subscription.unsubscribe() };
  }

  flush(): Promise<void> {
    return this.connection.flush();
  }

  close(): Promise<void> {
    return drainNats(this.connection);
  }
}

function headerRecord(headers: MsgHdrs | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  if (!headers) return record;
  for (const name of headers.keys()) record[name] = headers.get(name);
  return record;
}
