// ModelExpressService over Connect: ResolveModel fills the cache and names the peers; ReadFile streams a range
// of a cached file in pieces, so a client that lost a transfer asks again from where it stopped.
import { createReadStream } from "node:fs";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import {
  ERROR_CODE_HEADER,
  errorMessage,
  type FilesLog,
  ModelFilesError,
  type ModelFilesErrorCode,
} from "@kvasir/model-files";
import { ModelExpressService } from "@kvasir/protocol";
import type { ModelExpressMetrics } from "./metrics.js";
import type { ModelCache } from "./model-cache.js";
import type { PeerDirectory } from "./peer-directory.js";

/** Bytes per ReadFile message. */
const PIECE = 1024 * 1024;

const codeOf: Record<ModelFilesErrorCode, Code> = {
  unknown_model: Code.NotFound,
  unknown_revision: Code.NotFound,
  unknown_file: Code.NotFound,
  gated: Code.PermissionDenied,
  checksum_mismatch: Code.DataLoss,
  source_unreachable: Code.Unavailable,
  disk_full: Code.ResourceExhausted,
  invalid_argument: Code.InvalidArgument,
  express_unreachable: Code.Unavailable,
};

/** A ModelFilesError as a Connect error carrying its code in metadata (the client maps it back). */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof ModelFilesError) {
    return new ConnectError(
      error.message,
      codeOf[error.code],
      new Headers({ [ERROR_CODE_HEADER]: error.code }),
    );
  }
  return new ConnectError(errorMessage(error), Code.Internal);
}

export function modelExpressRoutes(
  cache: ModelCache,
  peers: PeerDirectory,
  metrics: ModelExpressMetrics,
  log: FilesLog,
): (router: ConnectRouter) => void {
  return (router) =>
    router.service(ModelExpressService, {
      async resolveModel(request) {
        try {
          const { model, hit } = await cache.resolve(request.modelId, request.revision);
          metrics.requests.inc({ result: hit ? "hit" : "miss" });
          const m = model.manifest;
          const holders = peers.of(m.modelId, m.revision);
          log.info("model resolved", {
            model: m.modelId,
            revision: m.revision,
            cache: hit ? "hit" : "miss",
            files: m.files.length,
            peers: holders.length,
          });
          return {
            manifest: {
              modelId: m.modelId,
              revision: m.revision,
              chunkSize: m.chunkSize,
              files: m.files.map((f) => ({
                path: f.path,
                size: BigInt(f.size),
                sha256: f.sha256,
                chunkSha256: f.chunkSha256,
              })),
            },
            peers: holders.map((p) => ({ url: p.url, instanceId: p.instance_id, paths: p.files ?? [] })),
          };
        } catch (error) {
          metrics.requests.inc({ result: "error" });
          log.warn("resolve failed", {
            model: request.modelId,
            revision: request.revision,
            error: errorMessage(error),
          });
          throw toConnectError(error);
        }
      },

      async *readFile(request, context) {
        const model = await cache.cached(request.modelId, request.revision);
        if (!model) {
          throw toConnectError(
            new ModelFilesError(
              "unknown_revision",
              `${request.modelId}@${request.revision} is not in the cache; call ResolveModel first`,
            ),
          );
        }
        const file = model.manifest.files.find((f) => f.path === request.path);
        if (!file)
          throw toConnectError(
            new ModelFilesError(
              "unknown_file",
              `no file ${request.path} in ${request.modelId}@${request.revision}`,
            ),
          );
        const offset = Number(request.offset);
        const end = request.length === 0n ? file.size : Math.min(file.size, offset + Number(request.length));
        if (offset > file.size) {
          throw new ConnectError(
            `offset ${offset} is past the end of ${request.path} (${file.size} bytes)`,
            Code.OutOfRange,
          );
        }
        if (end <= offset) return;
        const path = cache.cache.snapshotFile(model.manifest.modelId, model.manifest.revision, file.path);
        const release = cache.acquire(request.modelId);
        let at = offset;
        try {
          const stream = createReadStream(path, {
            start: offset,
            end: end - 1,
            highWaterMark: PIECE,
            signal: context.signal,
          });
          for await (const data of stream) {
            const buf = data as Buffer;
            yield { offset: BigInt(at), data: buf };
            at += buf.length;
          }
        } finally {
          metrics.bytes.inc({ from: "cache" }, at - offset);
          release();
        }
      },
    });
}
