// Layout-level parsing of vLLM / SGLang KV event batches (../shared/FORMATS.md §2.1–2.2): every historic layout
// becomes one `EngineEvent` shape, with the engine's own hashes still in it. Semantic checks live in decoder.ts.
import {
  asString,
  asTokenIds,
  asUint,
  decodeMsgpack,
  field,
  foldHash,
  foldHashes,
  isMap,
  isNil,
  type Msgpack,
  type MsgpackMap,
  slot,
} from "./values.js";

/** Why an engine event was not turned into a normalized event (FORMATS.md §2.1 rule 3, plus unknown_parent). */
export type DropReason =
  | "duplicate_stores"
  | "non_main_attention_group"
  | "placeholder"
  | "unknown_medium"
  | "unaligned_blocks"
  | "self_referencing_hashes"
  | "unknown_type"
  | "malformed"
  | "unknown_parent";

export const DROP_REASONS: readonly DropReason[] = [
  "duplicate_stores",
  "non_main_attention_group",
  "placeholder",
  "unknown_medium",
  "unaligned_blocks",
  "self_referencing_hashes",
  "unknown_type",
  "malformed",
  "unknown_parent",
];

export interface EngineStored {
  type: "stored";
  blockHashes: bigint[];
  parentHash: bigint | undefined;
  tokenIds: number[];
  /** undefined when the event did not say; the decoder infers it from tokens and hashes. */
  blockSize: number | undefined;
  loraName: string | undefined;
  medium: string | undefined;
  groupIdx: number;
  specKind: string | undefined;
  cacheSalt: string | undefined;
}

export interface EngineRemoved {
  type: "removed";
  blockHashes: bigint[];
  medium: string | undefined;
  groupIdx: number;
}

export interface EngineCleared {
  type: "cleared";
}

export type EngineEvent = EngineStored | EngineRemoved | EngineCleared;
export type ParsedEvent = EngineEvent | { type: "drop"; reason: DropReason };

export interface ParsedBatch {
  /** The batch's data-parallel rank, when it carries one. */
  dpRank: number | undefined;
  events: ParsedEvent[];
}

const malformed: ParsedEvent = { type: "drop", reason: "malformed" };

/** Named fields of a Stored or Removed event, whichever layout it came in. */
interface EventFields {
  blockHashes: Msgpack;
  parent: Msgpack;
  tokenIds: Msgpack;
  blockSize: Msgpack;
  medium: Msgpack;
  loraName: Msgpack;
  groupIdx: Msgpack;
  specKind: Msgpack;
  cacheSalt: Msgpack;
}

// Legacy positional BlockStored: [tag, block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium,
// lora_name, extra_keys, group_idx, kv_cache_spec_kind, kv_cache_spec_sliding_window]; trailing slots optional.
function positionalStored(a: readonly Msgpack[]): EventFields {
  return {
    blockHashes: slot(a, 1),
    parent: slot(a, 2),
    tokenIds: slot(a, 3),
    blockSize: slot(a, 4),
    medium: slot(a, 6),
    loraName: slot(a, 7),
    // Some Dynamo producers put block_mm_infos in slot 9; only an integer there is a group index.
    groupIdx: typeof slot(a, 9) === "number" || typeof slot(a, 9) === "bigint" ? slot(a, 9) : undefined,
    specKind: slot(a, 10),
    cacheSalt: undefined,
  };
}

// Legacy positional BlockRemoved: [tag, block_hashes, medium, group_idx].
function positionalRemoved(a: readonly Msgpack[]): EventFields {
  return {
    blockHashes: slot(a, 1),
    parent: undefined,
    tokenIds: undefined,
    blockSize: undefined,
    medium: slot(a, 2),
    loraName: undefined,
    groupIdx: slot(a, 3),
    specKind: undefined,
    cacheSalt: undefined,
  };
}

function mapFields(m: MsgpackMap): EventFields {
  return {
    blockHashes: field(m, "block_hashes"),
    parent: field(m, "parent_block_hash"),
    tokenIds: field(m, "token_ids"),
    blockSize: field(m, "block_size"),
    medium: field(m, "medium"),
    loraName: field(m, "lora_name"),
    groupIdx: field(m, "group_idx"),
    specKind: field(m, "kv_cache_spec_kind"),
    cacheSalt: field(m, "cache_salt"),
  };
}

/** An optional string field: nil -> undefined; a non-string is malformed (null returned). */
function optString(v: Msgpack): string | undefined | null {
  if (isNil(v)) return undefined;
  return asString(v) ?? null;
}

/**
 * The medium as a name. Media other than strings (an engine enum sent as a number, say) are kept as their
 * text, so they count as an unknown medium rather than a malformed event.
 */
function mediumName(v: Msgpack): string | undefined {
  if (isNil(v)) return undefined;
  return typeof v === "string" ? v : `<${typeof v}:${String(v)}>`;
}

function toStored(f: EventFields): ParsedEvent {
  const blockHashes = foldHashes(f.blockHashes);
  const tokenIds = asTokenIds(f.tokenIds);
  if (blockHashes === undefined || tokenIds === undefined) return malformed;
  let parentHash: bigint | undefined;
  if (!isNil(f.parent)) {
    parentHash = foldHash(f.parent);
    if (parentHash === undefined) return malformed;
  }
  let blockSize: number | undefined;
  if (!isNil(f.blockSize)) {
    blockSize = asUint(f.blockSize);
    if (blockSize === undefined) return malformed;
  }
  const groupIdx = isNil(f.groupIdx) ? 0 : asUint(f.groupIdx);
  const medium = mediumName(f.medium);
  const loraName = optString(f.loraName);
  // Informational only: an unexpected type is ignored.
  const specKind = asString(f.specKind);
  const cacheSalt = optString(f.cacheSalt);
  if (groupIdx === undefined || loraName === null || cacheSalt === null) {
    return malformed;
  }
  return {
    type: "stored",
    blockHashes,
    parentHash,
    tokenIds,
    blockSize,
    loraName,
    medium,
    groupIdx,
    specKind,
    cacheSalt,
  };
}

function toRemoved(f: EventFields): ParsedEvent {
  const blockHashes = foldHashes(f.blockHashes);
  const groupIdx = isNil(f.groupIdx) ? 0 : asUint(f.groupIdx);
  const medium = mediumName(f.medium);
  if (blockHashes === undefined || groupIdx === undefined) return malformed;
  return { type: "removed", blockHashes, medium, groupIdx };
}

export function parseEvent(ev: Msgpack): ParsedEvent {
  let tag: Msgpack;
  let fields: (kind: "stored" | "removed") => EventFields;
  if (Array.isArray(ev)) {
    tag = slot(ev, 0);
    fields = (kind) => (kind === "stored" ? positionalStored(ev) : positionalRemoved(ev));
  } else if (isMap(ev)) {
    tag = field(ev, "type");
    fields = () => mapFields(ev);
  } else {
    return malformed;
  }
  switch (tag) {
    case "BlockStored":
      return toStored(fields("stored"));
    case "BlockRemoved":
      return toRemoved(fields("removed"));
    case "AllBlocksCleared":
      return { type: "cleared" };
    default:
      return typeof tag === "string" ? { type: "drop", reason: "unknown_type" } : malformed;
  }
}

/**
 * Parses one msgpack EventBatch: `[ts, events, dp_rank?]` or `{ts, events, data_parallel_rank | attn_dp_rank}`.
 * Undefined when the payload is not a batch at all.
 */
export function parseBatch(payload: Uint8Array): ParsedBatch | undefined {
  const decoded = decodeMsgpack(payload);
  if (decoded === undefined) return undefined;
  const batch = decoded.value;
  let events: Msgpack;
  let rank: Msgpack;
  if (Array.isArray(batch)) {
    events = slot(batch, 1);
    rank = slot(batch, 2);
  } else if (isMap(batch)) {
    events = field(batch, "events");
    rank = field(batch, "data_parallel_rank") ?? field(batch, "attn_dp_rank");
  } else {
    return undefined;
  }
  if (!Array.isArray(events)) return undefined;
  const dpRank = asUint(rank);
  return {
    dpRank: dpRank !== undefined && dpRank <= 0xffffffff ? dpRank : undefined,
    events: events.map(parseEvent),
  };
}
