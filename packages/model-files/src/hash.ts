import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";

/** Hashes a file's bytes as they stream by: SHA-256 always, and the checks the manifest asks for. */
export class FileHasher {
  private readonly sha256 = createHash("sha256");
  private chunk: Hash;
  private chunkFill = 0;
  readonly chunkSha256: string[] = [];
  private readonly gitSha1?: Hash;
  private readonly md5?: Hash;

  constructor(
    size: number,
    private readonly chunkSize: number,
    want: { gitSha1?: boolean; md5?: boolean } = {},
  ) {
    this.chunk = createHash("sha256");
    if (want.gitSha1) {
      this.gitSha1 = createHash("sha1");
      this.gitSha1.update(`blob ${size}\0`);
    }
    if (want.md5) this.md5 = createHash("md5");
  }

  update(data: Uint8Array): void {
    this.sha256.update(data);
    this.gitSha1?.update(data);
    this.md5?.update(data);
    let at = 0;
    while (at < data.length) {
      const take = Math.min(data.length - at, this.chunkSize - this.chunkFill);
      this.chunk.update(data.subarray(at, at + take));
      this.chunkFill += take;
      at += take;
      if (this.chunkFill === this.chunkSize) this.closeChunk();
    }
  }

  private closeChunk(): void {
    this.chunkSha256.push(this.chunk.digest("hex"));
    this.chunk = createHash("sha256");
    this.chunkFill = 0;
  }

  digest(): { sha256: string; chunkSha256: string[]; gitSha1?: string; md5?: string } {
    if (this.chunkFill > 0) this.closeChunk();
    return {
      sha256: this.sha256.digest("hex"),
      chunkSha256: this.chunkSha256,
      ...(this.gitSha1 ? { gitSha1: this.gitSha1.digest("hex") } : {}),
      ...(this.md5 ? { md5: this.md5.digest("hex") } : {}),
    };
  }
}

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Feeds the first `end` bytes of a file (all of it when absent) into the hasher. */
export async function hashFileInto(path: string, hasher: FileHasher, end?: number): Promise<void> {
  if (end === 0) return;
  const stream = createReadStream(path, end === undefined ? {} : { start: 0, end: end - 1 });
  for await (const data of stream) hasher.update(data as Buffer);
}
