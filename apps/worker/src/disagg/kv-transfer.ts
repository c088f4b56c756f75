// One worker's side of disaggregated serving for the mocker: a native transfer engine, and either the holder
// (prefill workers export their prompts' KV blocks) or the puller (decode workers import them), with their
// metrics, logs and spans. Real engines (vLLM, SGLang) move KV themselves and need none of this.
import { lookup } from "node:dns/promises";
import { isIPv4 } from "node:net";
import { removeOrphanedShmFiles, TransferEngine } from "@kvasir/native";
import { WorkerService } from "@kvasir/protocol";
import { type ClientOptions, createClient, isWildcardHost } from "@kvasir/runtime";
import { type KvTransferMetrics, type Logger, withSpan } from "@kvasir/telemetry";
import type { EngineRequest } from "../engine.js";
import { KvHolder } from "./kv-holder.js";
import { KvPullError, KvPuller } from "./kv-puller.js";
import { type PrefillIdentity, type RemoteKv, transferParams } from "./transfer-params.js";

/** Prefill side: keeps a finished prefill's KV blocks and says where they are. */
export interface KvExport {
  /**
   * Sets aside room to hold the prompt's blocks before its prefill runs; false when the worker holds as much as
   * it may (--kv-transfer-max-held-mb), and another prefill worker should take the request.
   */
  reserve(request: EngineRequest): boolean;
  /** Gives back the room of a prefill that ends without holding (cancelled, failed). */
  unreserve(requestId: string): void;
  /** Holds the prompt's blocks; returns the vLLM-shaped transfer parameters for the decode worker. */
  exportPrompt(request: EngineRequest): Record<string, unknown>;
  /** Frees a request's held blocks (ReleaseKvBlocks); the number freed, 0 when none were held. */
  release(requestId: string): number;
}

/** Decode side: brings a prompt's KV blocks over before decoding. */
export interface KvImport {
  /**
   * Pulls the blocks `remote` describes; resolves with the prompt tokens whose KV is now here, or 0 when the
   * prefill must be recomputed locally (counted and logged). Never rejects.
   */
  importPrompt(request: EngineRequest, remote: RemoteKv | string, signal: AbortSignal): Promise<number>;
  /** Lets the prefill worker free blocks this worker will not pull (the request ended first). */
  abandon(remote: RemoteKv): void;
}

export interface KvTransferOptions {
  role: "prefill" | "decode";
  workerIdHex: string;
  /** The worker's bind host; the transfer engine's TCP server binds it too, so peers on other hosts can pull. */
  bindHost: string;
  /** The worker's advertised host, carried in the params as remote_host and in region descriptors. */
  advertiseHost: string;
  /** Tokens per KV block and KV bytes per token of this worker's engine. */
  blockSize: number;
  kvBytesPerToken: number;
  leaseSeconds: number;
  timeoutSeconds: number;
  /** Most KV bytes a prefill worker holds (and reserves for running prefills) at once. */
  maxHeldBytes?: number;
  metrics: KvTransferMetrics;
  log: Logger;
  /** TLS and service token for the release calls to prefill workers (the component host's clientOptions). */
  clientOptions?: ClientOptions;
}

export interface KvTransfer {
  export?: KvExport;
  import?: KvImport;
  /** Frees held blocks and closes the transfer engine (fails pulls in flight). */
  close(): void;
}

/** The IPv4 address the native TCP server binds for the worker's `--host`. */
export async function transferBindAddress(host: string): Promise<string> {
  if (isWildcardHost(host)) return "0.0.0.0";
  if (isIPv4(host) || host === "localhost") return host;
  if (host === "::1") return "127.0.0.1";
  return (await lookup(host, { family: 4 })).address;
}

/** Starts the transfer engine for a prefill or decode worker. */
export async function startKvTransfer(
  options: KvTransferOptions,
  releaseUrl: () => string,
): Promise<KvTransfer> {
  const { metrics, log } = options;
  const orphans = removeOrphanedShmFiles();
  if (orphans > 0) log.info("removed shared-memory KV regions of workers that are gone", { files: orphans });
  const engine = new TransferEngine({ threads: 2 });
  const bytesPerBlock = options.blockSize * options.kvBytesPerToken;
  try {
    const port = engine.listen(0, {
      host: await transferBindAddress(options.bindHost),
      advertise: options.advertiseHost,
    });
    if (options.role === "prefill") {
      const holder = new KvHolder(engine, {
        bytesPerBlock,
        blockSize: options.blockSize,
        leaseMs: options.leaseSeconds * 1000,
        ...(options.maxHeldBytes === undefined ? {} : { maxHeldBytes: options.maxHeldBytes }),
        onChange: (blocks) => metrics.heldBlocks.set(blocks),
        onRelease: (requestId, reason, blocks) => {
          metrics.releasesTotal.inc({ reason });
          const level = reason === "lease_expired" ? "warn" : "debug";
          log[level]("kv blocks freed", { request_id: requestId, reason, blocks });
        },
      });
      const identity = (): PrefillIdentity => ({
        engineId: options.workerIdHex,
        host: options.advertiseHost,
        port,
        releaseUrl: releaseUrl(),
      });
      return {
        export: {
          reserve: (request) => holder.reserve(request.requestId, request.tokenIds.length),
          unreserve: (requestId) => holder.unreserve(requestId),
          exportPrompt(request) {
            const held = holder.hold(request.requestId, request.tokenIds.length);
            log.debug("kv blocks held", {
              request_id: request.requestId,
              blocks: held.blockIds.length,
              bytes: held.blockIds.length * bytesPerBlock,
            });
            return transferParams(held, identity());
          },
          release: (requestId) => holder.release(requestId, "released"),
        },
        close() {
          holder.close();
          engine.close();
        },
      };
    }
    const puller = new KvPuller(engine, {
      selfHost: options.advertiseHost,
      timeoutMs: options.timeoutSeconds * 1000,
      release: async (url, requestId) => {
        try {
          await createClient(WorkerService, url, options.clientOptions).releaseKvBlocks(
            { requestId },
            { timeoutMs: 5000 },
          );
        } catch (error) {
          // The prefill worker's lease frees the blocks anyway.
          log.debug("kv release call failed", { request_id: requestId, url, error: String(error) });
        }
      },
    });
    return {
      import: {
        importPrompt: (request, remote, signal) =>
          importPrompt(puller, options, bytesPerBlock, request, remote, signal),
        abandon: (remote) => puller.abandon(remote),
      },
      close() {
        puller.close();
        engine.close();
      },
    };
  } catch (error) {
    engine.close();
    throw error;
  }
}

async function importPrompt(
  puller: KvPuller,
  options: KvTransferOptions,
  bytesPerBlock: number,
  request: EngineRequest,
  remote: RemoteKv | string,
  signal: AbortSignal,
): Promise<number> {
  const { metrics, log } = options;
  const requestId = request.requestId;
  const fallback = (reason: KvPullError["reason"], message: string): number => {
    metrics.fallbacksTotal.inc({ reason });
    log.warn("kv transfer failed; recomputing the prefill locally", {
      request_id: requestId,
      reason,
      error: message,
    });
    return 0;
  };
  if (typeof remote === "string") return fallback("invalid_params", remote);
  if (remote.bytesPerBlock !== bytesPerBlock) {
    return fallback(
      "invalid_params",
      `the prefill worker's blocks are ${remote.bytesPerBlock} bytes, this worker's ${bytesPerBlock}: the KV layouts differ`,
    );
  }
  try {
    const result = await withSpan(
      "kv_transfer",
      { request_id: requestId, "kv.remote_engine_id": remote.engineId, "kv.blocks": remote.blockIds.length },
      async (span) => {
        const r = await puller.pull(remote, signal);
        span.setAttributes({ bytes: r.bytes, transport: r.transport, seconds: r.seconds });
        return r;
      },
      request.trace ? { parent: request.trace } : {},
    );
    metrics.bytes.observe({ transport: result.transport }, result.bytes);
    metrics.seconds.observe({ transport: result.transport }, result.seconds);
    metrics.blocksTotal.inc({ transport: result.transport }, result.blocks);
    log.debug("kv transfer done", {
      request_id: requestId,
      remote_request_id: remote.requestId,
      bytes: result.bytes,
      blocks: result.blocks,
      transport: result.transport,
      seconds: result.seconds,
    });
    return Math.min(remote.numTokens, request.tokenIds.length);
  } catch (error) {
    // An aborted request ends here; there is nothing to recompute for it.
    if (signal.aborted) return 0;
    if (error instanceof KvPullError) return fallback(error.reason, error.message);
    return fallback("error", error instanceof Error ? error.message : String(error));
  }
}
