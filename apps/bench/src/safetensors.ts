// Model files with valid safetensors headers for benchmarks: `u64 little-endian header length`, a JSON header
// naming each tensor's dtype, shape and `data_offsets` (padded with spaces to a multiple of 8), then the data.
// The format is from the safetensors specification (huggingface/safetensors README).
import { randomFillSync } from "node:crypto";
import { open } from "node:fs/promises";

export interface TensorSpec {
  name: string;
  dtype: "BF16" | "F16" | "F32";
  shape: number[];
}

const BYTES: Record<TensorSpec["dtype"], number> = { BF16: 2, F16: 2, F32: 4 };

/** The header bytes (length prefix included) and the size of the data after it. */
export function safetensorsHeader(tensors: readonly TensorSpec[]): { header: Buffer; dataBytes: number } {
  const entries: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const t of tensors) {
    const size = t.shape.reduce((n, d) => n * d, 1) * BYTES[t.dtype];
    entries[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(entries);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const body = Buffer.from(json);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(body.length));
  return { header: Buffer.concat([prefix, body]), dataBytes: offset };
}

/** BF16 tensors of `hidden` columns adding up to about `bytes` (whole rows). */
export function tensorsFor(
  bytes: number,
  shard: number,
  hidden = 4096,
  tensorBytes = 64 * 2 ** 20,
): TensorSpec[] {
  const rowBytes = hidden * 2;
  const tensors: TensorSpec[] = [];
  let left = Math.max(rowBytes, Math.floor(bytes / rowBytes) * rowBytes);
  for (let i = 0; left > 0; i++) {
    const size = Math.min(left, Math.floor(tensorBytes / rowBytes) * rowBytes);
    tensors.push({
      name: `model.layers.${shard}.block.${i}.weight`,
      dtype: "BF16",
      shape: [size / rowBytes, hidden],
    });
    left -= size;
  }
  return tensors;
}

/** Writes one safetensors file of random data; returns its size. */
export async function writeSafetensors(path: string, tensors: readonly TensorSpec[]): Promise<number> {
  const { header, dataBytes } = safetensorsHeader(tensors);
  const handle = await open(path, "w");
  try {
    await handle.write(header);
    const buf = Buffer.alloc(16 * 2 ** 20);
    for (let left = dataBytes; left > 0; ) {
      const n = Math.min(left, buf.length);
      randomFillSync(buf, 0, n);
      await handle.write(buf, 0, n);
      left -= n;
    }
  } finally {
    await handle.close();
  }
  return header.length + dataBytes;
}
