// --use-remote-indexer: overlaps come from a standalone indexer (`kvasir indexer`) found in discovery under
// `v1/instances/{ns}/indexer/…`, asked over Connect. Several indexers are asked in turn.
import { Code, ConnectError } from "@connectrpc/connect";
import type { RemoteFindMatches, WorkerMatch } from "@kvasir/kv";
import { IndexerService, type InstanceRecord } from "@kvasir/protocol";
import { createClient, type Discovery } from "@kvasir/runtime";

export interface RemoteIndexer {
  findMatches: RemoteFindMatches;
  /** Indexers currently known. */
  readonly count: number;
  stop(): void;
}

export async function followRemoteIndexer(discovery: Discovery, namespace: string): Promise<RemoteIndexer> {
  const prefix = `v1/instances/${namespace}/indexer/`;
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
  let turn = 0;
  return {
    async findMatches(localHashes): Promise<WorkerMatch[]> {
      const all = [...addresses.values()];
      const address = all[turn++ % Math.max(all.length, 1)];
      if (address === undefined)
        throw new ConnectError("no indexer is registered in discovery", Code.Unavailable);
      const response = await createClient(IndexerService, address).findMatches({
        localHashes: [...localHashes],
      });
      return response.overlaps.map((o) => ({
        workerId: o.workerId,
        dpRank: o.dpRank,
        matchedBlocks: o.matchedBlocks,
      }));
    },
    get count() {
      return addresses.size;
    },
    stop: () => watch.stop(),
  };
}
