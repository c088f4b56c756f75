import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { createInterface } from "node:readline";

// Children and temp dirs still alive when the test process exits are killed and removed, so a failed test never
// leaves a nats-server or worker behind.
const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of liveChildren) child.kill("SIGKILL");
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Removes `dir` when the test process exits unless `forgetDir` was called first. */
export function trackDir(dir: string): void {
  installExitHook();
  liveDirs.add(dir);
}

export function forgetDir(dir: string): void {
  liveDirs.delete(dir);
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly pid: number | undefined;
  /** Every stdout line so far, in order (live array). */
  readonly stdout: string[];
  /** Every stderr line so far, in order (live array). */
  readonly stderr: string[];
  readonly exited: Promise<ExitStatus>;
  /** Sends `signal` (default SIGTERM); a no-op once the process has exited. */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with the first line (stdout or stderr, already seen or future) that matches `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/** `command args` run under `prefix` (e.g. `ip netns exec ns`): the command and argument list to spawn. */
export function prefixed(prefix: readonly string[], command: string, args: string[]): [string, string[]] {
  const [first, ...rest] = prefix;
  return first === undefined ? [command, args] : [first, [...rest, command, ...args]];
}

/** Spawns a tracked child whose output is collected line by line. */
export function spawnManaged(command: string, args: string[], options: SpawnOptions): ManagedProcess {
  installExitHook();
  const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  liveChildren.add(child);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const lineListeners = new Set<(line: string) => void>();
  const collect = (stream: NodeJS.ReadableStream | null, into: string[]) => {
    if (!stream) return;
    createInterface({ input: stream }).on("line", (line) => {
      into.push(line);
      for (const listener of lineListeners) listener(line);
    });
  };
  collect(child.stdout, stdout);
  collect(child.stderr, stderr);

  let status: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("exit", (code, signal) => {
      status = { code, signal };
      liveChildren.delete(child);
      resolve(status);
    });
    child.once("error", () => {
      status = { code: null, signal: null };
      liveChildren.delete(child);
      resolve(status);
    });
  });

  return {
    pid: child.pid,
    stdout,
    stderr,
    exited,
    kill(signal = "SIGTERM") {
      if (!status) child.kill(signal);
    },
    waitForLine(pattern, timeoutMs = 10_000) {
      const seen = [...stdout, ...stderr].find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const finish = (error: Error | undefined, line = "") => {
          clearTimeout(timer);
          lineListeners.delete(onLine);
          if (error) reject(error);
          else resolve(line);
        };
        const onLine = (line: string) => {
          if (pattern.test(line)) finish(undefined, line);
        };
        const timer = setTimeout(
          () =>
            finish(new Error(`no line matching ${pattern} within ${timeoutMs} ms\n${tail(stdout, stderr)}`)),
          timeoutMs,
        );
        lineListeners.add(onLine);
        exited.then(({ code, signal }) =>
          finish(
            new Error(
              `process exited (code ${code}, signal ${signal}) before ${pattern}\n${tail(stdout, stderr)}`,
            ),
          ),
        );
      });
    },
  };
}

/** The last lines of a process's output, for error messages. */
export function tail(stdout: string[], stderr: string[], lines = 30): string {
  return [`--- stdout`, ...stdout.slice(-lines), `--- stderr`, ...stderr.slice(-lines)].join("\n");
}
