import type { DiscoveryEvent, DiscoveryWatch } from "../src/index.js";

/** Follows a watch, keeping every event and the live view (key -> value) it implies. */
export function follow(watch: DiscoveryWatch) {
  const events: DiscoveryEvent[] = [];
  const live = new Map<string, unknown>();
  const done = (async () => {
    for await (const event of watch) {
      events.push(event);
      if (event.type === "put") live.set(event.key, event.value);
      else live.delete(event.key);
    }
  })();
  return { events, live, done, stop: () => watch.stop() };
}

export const registerScript = new URL("./fixtures/register.ts", import.meta.url).pathname;
