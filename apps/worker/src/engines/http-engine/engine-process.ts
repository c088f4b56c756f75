// The engine as a child process of the worker: its own process group (vLLM and SGLang fork engine-core, tokenizer
// and scheduler processes; killing the group leaves none behind), its output in the worker's log line by line
// under a prefix, and killed with the worker, also when the worker exits without stopping it.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Logger } from "@kvasir/telemetry";

export interface EngineExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface EngineProcessOptions {
  argv: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Prefix of every output line in the log, e.g. `vllm`. */
  name: string;
  log: Logger;
  /** Milliseconds between SIGTERM and SIGKILL on stop. */
  killGraceMs: number;
}

/** Process groups still alive, killed when the worker's process exits whatever the reason. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous by necessity: an `exit` handler cannot wait, so what is left gets SIGKILL at once.
  process.on("exit", () => {
    for (const pid of liveGroups) killGroup(pid, "SIGKILL");
  });
}

export class EngineProcess {
  readonly pid: number;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<EngineExit>;
  private readonly child: ChildProcess;
  private exit: EngineExit | undefined;

  constructor(private readonly options: EngineProcessOptions) {
    const [file, ...args] = options.argv;
    if (!file) throw new Error("the engine command is empty");
    installExitHook();
    this.child = spawn(file, args, {
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let spawnError: Error | undefined;
    this.exited = new Promise<EngineExit>((resolve) => {
      this.child.once("error", (error) => {
        spawnError = error;
        // A command that cannot be started never emits `exit`.
        if (this.child.pid === undefined) resolve({ code: 127, signal: null });
      });
      this.child.once("exit", (code, signal) => resolve({ code, signal }));
    }).then((exit) => {
      this.exit = exit;
      if (this.child.pid !== undefined) {
        liveGroups.delete(this.child.pid);
        // Children the engine forked may outlive its main process; the group goes with it.
        killGroup(this.child.pid, "SIGKILL");
      }
      if (spawnError) options.log.error(`[${options.name}] cannot start`, { error: spawnError.message });
      return exit;
    });
    this.pid = this.child.pid ?? -1;
    if (this.child.pid !== undefined) liveGroups.add(this.child.pid);
    for (const [stream, source] of [
      ["stdout", this.child.stdout],
      ["stderr", this.child.stderr],
    ] as const) {
      if (!source) continue;
      const lines = createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY });
      lines.on("line", (line) => {
        if (line.trim() !== "") options.log.info(`[${options.name}] ${line}`, { stream });
      });
    }
  }

  /** Set once the process has exited. */
  get exitStatus(): EngineExit | undefined {
    return this.exit;
  }

  /** SIGTERM to the group, SIGKILL after the grace period; resolves once the process has exited. */
  async kill(): Promise<EngineExit> {
    if (this.exit) return this.exit;
    killGroup(this.pid, "SIGTERM");
    const timer = setTimeout(() => killGroup(this.pid, "SIGKILL"), this.options.killGraceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** How an exit reads in a log line. */
export function describeExit(exit: EngineExit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}
