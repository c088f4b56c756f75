// The repository root, for scripts that spawn apps by path or read the shared traces beside the repository.
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Absolute path of the repository root (this file is apps/bench/src/repo.ts). */
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** Absolute path of `relative` under the repository root. */
export const repoFile = (relative: string): string => join(repoRoot, relative);
