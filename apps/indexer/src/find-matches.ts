import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { computeLocalHashes, type WorkerMatch } from "@kvasir/kv";
import { create, type FindMatchesRequest, FindMatchesResponseSchema, IndexerService } from "@kvasir/protocol";

/** The local block hashes a request names: given directly, or hashed here from its token ids. */
export function requestLocalHashes(request: FindMatchesRequest, blockSize: number): BigUint64Array {
  if (request.localHashes.length > 0 && request.tokenIds.length > 0) {
    throw new ConnectError("give either local_hashes or token_ids, not both", Code.InvalidArgument);
  }
  if (request.localHashes.length > 0) return BigUint64Array.from(request.localHashes);
  return computeLocalHashes(request.tokenIds, blockSize, {
    ...(request.loraName ? { loraName: request.loraName } : {}),
    ...(request.cacheSalt ? { cacheSalt: request.cacheSalt } : {}),
  });
}

/** IndexerService over an index lookup: matched prefix depth per worker and dp rank. */
export function indexerServiceImpl(
  blockSize: number,
  findMatches: (localHashes: BigUint64Array) => WorkerMatch[],
): ServiceImpl<typeof IndexerService> {
  return {
    findMatches(request) {
      const matches = findMatches(requestLocalHashes(request, blockSize));
      return create(FindMatchesResponseSchema, {
        blockSize,
        overlaps: matches.map((m) => ({
          workerId: m.workerId,
          dpRank: m.dpRank,
          matchedBlocks: m.matchedBlocks,
        })),
      });
    },
  };
}

/** The Connect routes of the indexer: IndexerService over the index, each lookup timed. */
export function indexerRoutes(
  blockSize: number,
  findMatches: (localHashes: BigUint64Array) => WorkerMatch[],
): (router: ConnectRouter) => void {
  return (router) => router.service(IndexerService, indexerServiceImpl(blockSize, findMatches));
}
