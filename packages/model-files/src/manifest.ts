// A model's manifest: what the files are and how to check them. Sources know some checksums (the hub: SHA-256 of
// LFS files and git blob ids of the rest; S3: an MD5 ETag for single-part uploads); the cache computes SHA-256
// and per-chunk hashes of every file it holds, which is what model-express hands to workers.

export interface ManifestFile {
  /** Path inside the snapshot, `/`-separated. */
  path: string;
  size: number;
  /** Hex SHA-256, when known. */
  sha256?: string;
  /** Git blob id (SHA-1 over `blob <size>\0` + content), the hub's id of a non-LFS file. */
  gitSha1?: string;
  /** Hex MD5 (an S3 ETag of a single-part upload). */
  md5?: string;
  /** Hex SHA-256 of every chunk of `chunkSize` bytes, when known. */
  chunkSha256?: string[];
}

export interface Manifest {
  modelId: string;
  /** A commit (hub) or a content hash (S3, local directory). */
  revision: string;
  /** Size of the chunks `chunkSha256` covers. */
  chunkSize: number;
  files: ManifestFile[];
}

export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;

export function totalBytes(manifest: Pick<Manifest, "files">): number {
  return manifest.files.reduce((sum, f) => sum + f.size, 0);
}

/** Byte ranges `[start, end)` of a file's chunks. */
export function chunkRanges(size: number, chunkSize: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (let start = 0; start < size; start += chunkSize)
    ranges.push([start, Math.min(size, start + chunkSize)]);
  return ranges;
}

/** The files whose names say they are tokenizer, chat template or config files (what a frontend needs). */
export function isTokenizerFile(path: string): boolean {
  const name = path.split("/").pop() ?? "";
  return (
    /^(tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|generation_config\.json|config\.json|chat_template\.jinja|chat_template\.json|vocab\.json|merges\.txt|tokenizer\.model)$/.test(
      name,
    ) && !path.includes("/")
  );
}
