// KvRouter ports over a publish/subscribe plane, typed structurally so this package needs no runtime dependency:
// @kvasir/runtime's EventPlane (memory or NATS) fits. The plane does the I/O; these only encode and decode.
import { decodeKvEventBatch } from "../events.js";
import type { ActiveSequenceUpdate } from "./active.js";
import type { KvEventSource, ReplicaSyncPort } from "./kv-router.js";

/** The part of an event plane the ports use. */
export interface PubSubPlane {
  publish(subject: string, data: Uint8Array): void;
  subscribe(subject: string, handler: (msg: { data: Uint8Array }) => void): { unsubscribe(): void };
}

/** Subject router replicas share active-sequence updates on. */
export function activeSequencesSubject(namespace: string): string {
  return `kvasir.${namespace}.router.active_sequences`;
}

/** Binary KvEventBatch messages on `subjects`; malformed batches are counted and dropped. */
export function kvEventSourceOver(
  plane: PubSubPlane,
  subjects: readonly string[],
  onMalformed: () => void = () => {},
): KvEventSource {
  return {
    subscribe(handler) {
      const subs = subjects.map((subject) =>
        plane.subscribe(subject, (msg) => {
          const events = decodeKvEventBatch(msg.data);
          if (events === undefined) onMalformed();
          else if (events.length > 0) handler(events);
        }),
      );
      return () => {
        for (const s of subs) s.unsubscribe();
      };
    },
  };
}

/** Active-sequence updates as JSON on one subject; undecodable messages are dropped. */
export function replicaSyncOver(plane: PubSubPlane, subject: string): ReplicaSyncPort {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  return {
    publish(update: ActiveSequenceUpdate) {
      plane.publish(subject, encoder.encode(JSON.stringify(update)));
    },
    subscribe(handler) {
      const sub = plane.subscribe(subject, (msg) => {
        let value: unknown;
        try {
          value = JSON.parse(decoder.decode(msg.data));
        } catch {
          return;
        }
        handler(value);
      });
      return () => sub.unsubscribe();
    },
  };
}
