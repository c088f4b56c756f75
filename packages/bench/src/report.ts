// Output of every benchmark: a plain-text table on stdout and a JSON file under bench-results/.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export type Cell = string | number | undefined;

/** Numbers print with `digits` decimals (NaN and undefined as "-"); strings as given. */
export function formatCell(cell: Cell, digits = 2): string {
  if (cell === undefined) return "-";
  if (typeof cell === "string") return cell;
  if (!Number.isFinite(cell)) return "-";
  return Number.isInteger(cell) ? String(cell) : cell.toFixed(digits);
}

/** A table with a header row, right-aligned numeric columns and a rule under the header. */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
  digits = 2,
): string {
  const text = rows.map((row) => headers.map((_, i) => formatCell(row[i], digits)));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((row) => (row[i] as string).length)));
  const numeric = headers.map((_, i) => rows.every((row) => typeof row[i] !== "string"));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join("  ");
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...text.map(line)].join("\n");
}

/** JSON with bigints as decimal strings and non-finite numbers as null. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) =>
      typeof v === "bigint" ? v.toString() : typeof v === "number" && !Number.isFinite(v) ? null : v,
    2,
  );
}

/** Writes `<dir>/<name>.json` (dir defaults to bench-results under the working directory); returns its path. */
export function writeBenchResult(name: string, data: unknown, dir = "bench-results"): string {
  const path = join(dir, `${name}.json`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${toJson(data)}\n`);
  return path;
}
