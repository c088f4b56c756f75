import { createRequire } from "node:module";
import { type ManagedProcess, prefixed, spawnManaged } from "./processes.js";

export interface SpawnNodeOptions {
  /** Added to (and overriding) the parent's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Resolve only once a stdout or stderr line matches; reject if the process exits first. */
  readyLine?: RegExp;
  readyTimeoutMs?: number;
  /** Command node runs under, e.g. `["ip", "netns", "exec", "ns-b"]` (it must exec node, so signals reach it). */
  commandPrefix?: string[];
}

export type NodeProcess = ManagedProcess;

// Resolved once from this package so that the child finds tsx whatever its cwd is.
const tsxLoader = createRequire(import.meta.url).resolve("tsx");

/** Runs a TypeScript entry point with `node --import tsx`, collecting its output lines. */
export async function spawnNode(
  scriptTs: string,
  args: string[] = [],
  options: SpawnNodeOptions = {},
): Promise<NodeProcess> {
  const nodeArgs = ["--import", tsxLoader, scriptTs, ...args];
  const child = spawnManaged(...prefixed(options.commandPrefix ?? [], process.execPath, nodeArgs), {
    env: { ...process.env, ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  if (options.readyLine) {
    try {
      await child.waitForLine(options.readyLine, options.readyTimeoutMs ?? 20_000);
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    }
  }
  return child;
}
