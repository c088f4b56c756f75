import { MemoryEventPlane } from "./memory.js";
import { NatsEventPlane } from "./nats.js";
import type { EventPlane, EventPlaneOptions } from "./types.js";

/** Opens the configured event plane. */
export async function createEventPlane(options: EventPlaneOptions): Promise<EventPlane> {
  switch (options.backend) {
    case "memory":
      return new MemoryEventPlane();
    case "nats":
      return NatsEventPlane.open(options.natsServers, options.natsAuth);
  }
}
