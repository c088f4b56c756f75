import { Code, ConnectError } from "@connectrpc/connect";
import { IndexerService, type WorkerOverlap } from "@kvasir/protocol";
import { type ClientOptions, createClient, type Discovery, followAddresses } from "@kvasir/runtime";

/** The standalone indexers (`kvasir indexer`) of a namespace, found in discovery and asked in turn. */
export interface RemoteIndexer {
  /** Matched prefix depth per worker; rejects with Unavailable when no indexer is registered. */
  findMatches(localHashes: BigUint64Array): Promise<WorkerOverlap[]>;
  /** Indexers known now. */
  readonly count: number;
  stop(): void;
}

/** `clientOptions`: TLS and service token of the Connect plane (the component host's). */
export async function followRemoteIndexer(
  discovery: Discovery,
  namespace: string,
  clientOptions: ClientOptions = {},
): Promise<RemoteIndexer> {
  const indexers = await followAddresses(discovery, `v1/instances/${namespace}/indexer/`);
  let turn = 0;
  return {
    async findMatches(localHashes) {
      const all = indexers.all();
      const address = all[turn++ % Math.max(all.length, 1)];
      if (address === undefined)
        throw new ConnectError("no KV indexer is registered in discovery", Code.Unavailable);
      const response = await createClient(IndexerService, address, clientOptions).findMatches({
        localHashes: [...localHashes],
      });
      return response.overlaps;
    },
    get count() {
      return indexers.all().length;
    },
    stop: indexers.stop,
  };
}
