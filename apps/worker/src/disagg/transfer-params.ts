// Disaggregation parameters as vLLM's NixlConnector spells them (`kv_transfer_params`), plus Kvasir's own
// `kvasir_*` keys for what the mocker needs to pull real bytes. The dict travels verbatim: prefill worker →
// pipeline → decode worker, so every key must be plain JSON.
import type { RegionDescriptor } from "@kvasir/native";
import { InvalidEngineRequest } from "../engine.js";

/** What a prefill worker holds for one request, as the decode worker needs it. */
export interface HeldKv {
  /** The prefill request's id (vLLM's remote_request_id); the key of the release call. */
  requestId: string;
  /** Block ids within the region: block `id` lives at byte offset `id * bytesPerBlock`. */
  blockIds: number[];
  bytesPerBlock: number;
  /** XXH3-64 of each block, hex, in blockIds order. */
  checksums: string[];
  region: RegionDescriptor;
  /** Prompt tokens the blocks cover. */
  numTokens: number;
}

/** A prefill worker's identity in the params it returns. */
export interface PrefillIdentity {
  /** vLLM's remote_engine_id: the worker's instance id in hex. */
  engineId: string;
  /** The worker's advertised host (vLLM's remote_host). */
  host: string;
  /** The transfer engine's TCP port (vLLM's remote_port). */
  port: number;
  /** The worker's advertised Connect URL, where ReleaseKvBlocks is called. */
  releaseUrl: string;
}

/** What a decode worker reads out of the params to pull the blocks. */
export interface RemoteKv extends HeldKv, PrefillIdentity {}

/** The vLLM-shaped dict a prefill worker returns on its last output. */
export function transferParams(held: HeldKv, identity: PrefillIdentity): Record<string, unknown> {
  return {
    do_remote_prefill: true,
    do_remote_decode: false,
    remote_block_ids: [held.blockIds],
    remote_engine_id: identity.engineId,
    remote_request_id: held.requestId,
    remote_host: identity.host,
    remote_port: identity.port,
    tp_size: 1,
    kvasir_region: held.region,
    kvasir_bytes_per_block: held.bytesPerBlock,
    kvasir_block_checksums: held.checksums,
    kvasir_num_tokens: held.numTokens,
    kvasir_release_url: identity.releaseUrl,
  };
}

/** What the params ask of this worker. */
export type DisaggRole =
  | { kind: "none" }
  /** Prefill leg: run the prompt and hold its blocks for a decode worker (vLLM's do_remote_decode). */
  | { kind: "hold" }
  /** Decode leg with everything needed to pull. */
  | { kind: "pull"; remote: RemoteKv }
  /** Decode leg whose params cannot be pulled from (vLLM logs "invalid KVTransferParams" and recomputes). */
  | { kind: "recompute"; why: string };

function optionalBoolean(params: Record<string, unknown>, key: string): boolean | undefined {
  const v = params[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new InvalidEngineRequest(`disagg_params_json: ${key} must be a boolean`);
  return v;
}

const isBlockId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Reads the region descriptor, or undefined when it is not one. */
function regionOf(v: unknown): RegionDescriptor | undefined {
  if (!isObject(v)) return undefined;
  const { v: version, engine, host, region, size, tcp, shm } = v;
  if (version !== 1 || typeof engine !== "string" || typeof host !== "string") return undefined;
  if (!isBlockId(region) || !isBlockId(size)) return undefined;
  const d: RegionDescriptor = { v: 1, engine, host, region, size };
  if (tcp !== undefined) {
    if (!isObject(tcp) || typeof tcp.address !== "string" || !isBlockId(tcp.port)) return undefined;
    d.tcp = { address: tcp.address, port: tcp.port };
  }
  if (shm !== undefined) {
    if (!isObject(shm) || typeof shm.path !== "string") return undefined;
    d.shm = { path: shm.path };
  }
  return d;
}

/**
 * Classifies a request's params. Keys of the wrong JSON type are the caller's error (InvalidEngineRequest); a
 * decode request whose params are well typed but incomplete for a pull (a real vLLM prefill's dict, a missing
 * Kvasir key) is recomputed locally, as vLLM does.
 */
export function disaggRoleOf(params: Record<string, unknown> | undefined): DisaggRole {
  if (params === undefined) return { kind: "none" };
  const remotePrefill = optionalBoolean(params, "do_remote_prefill");
  const remoteDecode = optionalBoolean(params, "do_remote_decode");
  if (remotePrefill && remoteDecode) {
    throw new InvalidEngineRequest(
      "disagg_params_json: do_remote_prefill and do_remote_decode are both true",
    );
  }
  const blockIds = params.remote_block_ids;
  if (
    blockIds !== undefined &&
    blockIds !== null &&
    !(Array.isArray(blockIds) && blockIds.every((g) => Array.isArray(g) && g.every(isBlockId)))
  ) {
    throw new InvalidEngineRequest(
      "disagg_params_json: remote_block_ids must be a list of lists of block ids (one per KV-cache group)",
    );
  }
  for (const key of ["remote_engine_id", "remote_request_id", "remote_host"] as const) {
    const v = params[key];
    if (v !== undefined && v !== null && typeof v !== "string") {
      throw new InvalidEngineRequest(`disagg_params_json: ${key} must be a string`);
    }
  }
  const port = params.remote_port;
  if (port !== undefined && port !== null && !(Number.isInteger(port) && (port as number) > 0)) {
    throw new InvalidEngineRequest("disagg_params_json: remote_port must be a positive integer");
  }
  // SGLang's bootstrap fields pass through untouched (the mocker speaks vLLM's dict), but must be what SGLang takes.
  const { bootstrap_host: bootstrapHost, bootstrap_port: bootstrapPort, bootstrap_room: room } = params;
  if (bootstrapHost !== undefined && bootstrapHost !== null && typeof bootstrapHost !== "string") {
    throw new InvalidEngineRequest("disagg_params_json: bootstrap_host must be a string");
  }
  for (const [key, v] of [
    ["bootstrap_port", bootstrapPort],
    ["bootstrap_room", room],
  ] as const) {
    if (v !== undefined && v !== null && !(Number.isInteger(v) && (v as number) >= 0)) {
      throw new InvalidEngineRequest(`disagg_params_json: ${key} must be a non-negative integer`);
    }
  }
  if (remoteDecode) return { kind: "hold" };
  if (!remotePrefill) return { kind: "none" };
  return pullOf(params);
}

function pullOf(params: Record<string, unknown>): DisaggRole {
  const recompute = (why: string): DisaggRole => ({ kind: "recompute", why });
  const groups = params.remote_block_ids;
  const { remote_engine_id: engineId, remote_request_id: requestId, remote_host: host } = params;
  const port = params.remote_port;
  if (!Array.isArray(groups) || typeof engineId !== "string" || typeof requestId !== "string")
    return recompute("remote_block_ids, remote_engine_id and remote_request_id are required");
  if (typeof host !== "string" || typeof port !== "number")
    return recompute("remote_host and remote_port are required");
  if (groups.length !== 1) return recompute(`${groups.length} KV-cache groups; the mocker has one`);
  const blockIds: number[] = groups[0];
  const region = regionOf(params.kvasir_region);
  const bytesPerBlock = params.kvasir_bytes_per_block;
  const checksums = params.kvasir_block_checksums;
  const numTokens = params.kvasir_num_tokens;
  const releaseUrl = params.kvasir_release_url;
  if (region === undefined) return recompute("kvasir_region is missing or not a region descriptor");
  if (!isBlockId(bytesPerBlock) || bytesPerBlock === 0)
    return recompute("kvasir_bytes_per_block is missing or not a positive integer");
  if (!isBlockId(numTokens)) return recompute("kvasir_num_tokens is missing or not an integer");
  if (
    !Array.isArray(checksums) ||
    checksums.length !== blockIds.length ||
    !checksums.every((c) => typeof c === "string")
  )
    return recompute("kvasir_block_checksums must hold one checksum per block");
  if (typeof releaseUrl !== "string") return recompute("kvasir_release_url is missing");
  if (blockIds.some((id) => (id + 1) * bytesPerBlock > region.size))
    return recompute("a block id lies outside the region");
  return {
    kind: "pull",
    remote: {
      requestId,
      blockIds,
      bytesPerBlock,
      checksums,
      region,
      numTokens,
      engineId,
      host,
      port,
      releaseUrl,
    },
  };
}
