// Standalone KV services the frontend's kv mode can lean on, found in discovery: the indexer
// (`v1/instances/{ns}/indexer/…`, --use-remote-indexer) and the router (`v1/instances/{ns}/router/…`,
// --use-remote-router).
import type { InstanceRecord } from "@kvasir/protocol";
import type { Discovery } from "@kvasir/runtime";

/** Addresses registered under a discovery prefix, kept current by a watch. */
export interface FollowedAddresses {
  /** Every address known now. */
  all(): string[];
  stop(): void;
}

export async function followAddresses(discovery: Discovery, prefix: string): Promise<FollowedAddresses> {
  const addresses = new Map<string, string>();
  const put = (key: string, value: unknown) => {
    const address = (value as Partial<InstanceRecord> | null)?.address;
    if (typeof address === "string") addresses.set(key, address);
  };
  for (const entry of await discovery.list(prefix)) put(entry.key, entry.value);
  const watch = discovery.watch(prefix);
  void (async () => {
    for await (const event of watch) {
      if (event.type === "put") put(event.key, event.value);
      else addresses.delete(event.key);
    }
  })();
  return { all: () => [...addresses.values()], stop: () => watch.stop() };
}

export const indexerPrefix = (namespace: string) => `v1/instances/${namespace}/indexer/`;
export const routerPrefix = (namespace: string) => `v1/instances/${namespace}/router/`;
