import type { NatsAuth } from "../plane-security.js";
export interface EventMessage {
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
}

export interface Subscription {
  unsubscribe(): void;
}

/** Fire-and-forget pub/sub with NATS subjects and wildcards (`*` one token, `>` the rest). */
export interface EventPlane {
  publish(subject: string, data: Uint8Array, headers?: Record<string, string>): void;
  subscribe(subject: string, handler: (message: EventMessage) => void): Subscription;
  /** Resolves once everything published so far has been delivered (memory) or acknowledged by the server (nats). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export type EventPlaneBackend = "memory" | "nats";

export interface EventPlaneOptions {
  backend: EventPlaneBackend;
  /** nats backend: server URL(s), comma-separated. */
  natsServers?: string;
  /** nats backend: credentials and TLS. */
  natsAuth?: NatsAuth;
}
