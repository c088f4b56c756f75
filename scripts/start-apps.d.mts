// Types of scripts/start-apps.mjs for the TypeScript tests that start the built apps.
import type { ChildProcess } from "node:child_process";

export interface RunningApp {
  child: ChildProcess;
  /** Milliseconds from spawn until the app answered. */
  ms: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}
export function freePort(): Promise<number>;
export function standaloneStart(app: string, port: number, scratch: string): { args: string[]; path: string };
export function startBuilt(
  dir: string,
  args: readonly string[],
  options: { port: number; path: string; timeoutMs?: number; env?: Record<string, string> },
): Promise<RunningApp>;
export function stopChild(
  running: RunningApp,
  graceMs?: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
export function folderBytes(path: string): number;
