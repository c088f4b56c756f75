import type { Discovery, DiscoveryEvent } from "./types.js";

/**
 * Applies the entries under `prefix` now (so the caller starts with the current state), then every change until
 * the returned function is called. `apply` must be idempotent: the watch repeats the current entries once.
 */
export async function followPrefix(
  discovery: Discovery,
  prefix: string,
  apply: (event: DiscoveryEvent) => void,
  onError: (error: unknown) => void = () => {},
): Promise<() => void> {
  for (const entry of await discovery.list(prefix)) apply({ type: "put", ...entry });
  const watch = discovery.watch(prefix);
  void (async () => {
    try {
      for await (const event of watch) apply(event);
    } catch (error) {
      onError(error);
    }
  })();
  return () => watch.stop();
}

/** Addresses (InstanceRecord.address) registered under a prefix, kept current. */
export interface FollowedAddresses {
  all(): string[];
  stop(): void;
}

export async function followAddresses(discovery: Discovery, prefix: string): Promise<FollowedAddresses> {
  const addresses = new Map<string, string>();
  const stop = await followPrefix(discovery, prefix, (event) => {
    if (event.type === "delete") return void addresses.delete(event.key);
    const address = (event.value as { address?: unknown } | null)?.address;
    if (typeof address === "string") addresses.set(event.key, address);
  });
  return { all: () => [...addresses.values()], stop };
}
