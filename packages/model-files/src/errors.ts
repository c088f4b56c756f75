/** Why getting a model's files failed, as a caller (the Connect service, a worker's log) must tell the user. */
export type ModelFilesErrorCode =
  | "unknown_model"
  | "unknown_revision"
  | "unknown_file"
  | "gated"
  | "checksum_mismatch"
  | "source_unreachable"
  | "disk_full"
  | "express_unreachable"
  | "invalid_argument";

export class ModelFilesError extends Error {
  constructor(
    readonly code: ModelFilesErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ModelFilesError";
  }
}

/** ENOSPC and EDQUOT become a disk-full error naming the path; anything else passes through. */
export function diskError(error: unknown, path: string): unknown {
  const code = error instanceof Error && "code" in error ? error.code : undefined;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new ModelFilesError("disk_full", `disk full while writing ${path}`, { cause: error });
  }
  return error;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
