// Mooncake-format traces: one JSON object per line with `timestamp` (ms), `input_length`, `output_length` and
// `hash_ids` (prefix block ids at TRACE_BLOCK_TOKENS tokens per block).
import { readFileSync } from "node:fs";

/** Tokens covered by one trace `hash_id` (Mooncake's block size). */
export const TRACE_BLOCK_TOKENS = 512;

export interface TraceRow {
  /** Arrival time in milliseconds from the trace's start. */
  timestamp: number;
  inputLength: number;
  outputLength: number;
  hashIds: number[];
}

function nonNegativeInt(value: unknown, field: string, line: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new Error(`trace line ${line}: '${field}' must be a non-negative integer`);
  }
  return value;
}

/** Parses JSONL text; blank lines are skipped, a malformed row is an error naming its line. */
export function parseTrace(text: string): TraceRow[] {
  const rows: TraceRow[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === "") continue;
    const raw: unknown = JSON.parse(line);
    if (typeof raw !== "object" || raw === null) throw new Error(`trace line ${i + 1}: not a JSON object`);
    const obj = raw as Record<string, unknown>;
    const hashIds = obj.hash_ids;
    if (!Array.isArray(hashIds)) throw new Error(`trace line ${i + 1}: 'hash_ids' must be an array`);
    rows.push({
      timestamp: nonNegativeInt(obj.timestamp, "timestamp", i + 1),
      inputLength: nonNegativeInt(obj.input_length, "input_length", i + 1),
      outputLength: nonNegativeInt(obj.output_length, "output_length", i + 1),
      hashIds: hashIds.map((id) => nonNegativeInt(id, "hash_ids[]", i + 1)),
    });
  }
  return rows;
}

/** Reads a trace file; `limit` keeps its first N rows. */
export function loadTrace(path: string, limit?: number): TraceRow[] {
  const rows = parseTrace(readFileSync(path, "utf8"));
  return limit === undefined ? rows : rows.slice(0, limit);
}

export interface TraceBlockStats {
  rows: number;
  blocks: number;
  distinctBlocks: number;
  /** Fraction of blocks already seen in an earlier row: the infinite-cache, single-pool ceiling at trace blocks. */
  reuseCeiling: number;
}

export function traceBlockStats(rows: readonly TraceRow[]): TraceBlockStats {
  const seen = new Set<number>();
  let blocks = 0;
  let reused = 0;
  for (const row of rows) {
    for (const id of row.hashIds) {
      blocks++;
      if (seen.has(id)) reused++;
      else seen.add(id);
    }
  }
  return {
    rows: rows.length,
    blocks,
    distinctBlocks: seen.size,
    reuseCeiling: blocks === 0 ? 0 : reused / blocks,
  };
}
