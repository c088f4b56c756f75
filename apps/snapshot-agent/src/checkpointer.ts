// The checkpointer: what turns a running process tree into image files and back. The real one runs NVIDIA's
// cuda-checkpoint (GPU state to host memory and back, `--toggle`) around CRIU (`criu dump` / `criu restore`) with
// the options an inference engine needs. Both tools are found through paths given by flag, which is also how the
// tests put recording scripts in their place on machines where CRIU cannot run.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export interface ToolReport {
  criu: { path: string; version?: string; ok: boolean; detail: string };
  cudaCheckpoint: { path: string; present: boolean; detail: string };
}

export interface DumpOptions {
  /** Keep the process running after the dump (CRIU `--leave-running`). */
  leaveRunning: boolean;
  /** Where CRIU writes its log and work files (not part of the images). */
  workDir: string;
}

export interface DumpResult {
  /** The process held CUDA state, suspended with cuda-checkpoint before the dump. */
  cuda: boolean;
}

export interface RestoreOptions {
  workDir: string;
  /** The dumped process held CUDA state: give it back after the restore. */
  cuda: boolean;
  /** Namespace files (`/proc/<pid>/ns/net`, ...) the restored tree joins, by CRIU's namespace name. */
  joinNamespaces: Record<string, string>;
}

export interface Checkpointer {
  /** What the tools on this node can do; a checkpoint or restore without a working CRIU fails with this detail. */
  check(): Promise<ToolReport>;
  dump(pid: number, imagesDir: string, options: DumpOptions): Promise<DumpResult>;
  /** Restores the tree detached from the agent; returns its root's pid. */
  restore(imagesDir: string, options: RestoreOptions): Promise<number>;
}

export class CheckpointerError extends Error {
  constructor(
    readonly reason: "tools_unavailable" | "dump_failed" | "restore_failed",
    message: string,
  ) {
    super(message);
  }
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && "code" in error && typeof error.code === "string") {
        reject(error); // spawn failure (ENOENT, EACCES): the tool is not there
        return;
      }
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function lastLines(text: string, count = 5): string {
  return text.trim().split("\n").slice(-count).join(" | ");
}

/** CRIU's options for an engine: its open TCP connections, unix sockets, a shell job's tty and file locks. */
export const CRIU_ENGINE_OPTIONS = [
  "--tcp-established",
  "--ext-unix-sk",
  "--shell-job",
  "--file-locks",
] as const;

export interface CriuCheckpointerOptions {
  criuPath: string;
  cudaCheckpointPath: string;
  /** Longest a dump or restore may take. */
  timeoutMs: number;
}

export class CriuCheckpointer implements Checkpointer {
  constructor(private readonly options: CriuCheckpointerOptions) {}

  async check(): Promise<ToolReport> {
    const { criuPath, cudaCheckpointPath } = this.options;
    const criu: ToolReport["criu"] = { path: criuPath, ok: false, detail: "" };
    try {
      const version = await run(criuPath, ["--version"], 10_000);
      criu.version = /Version:\s*(\S+)/.exec(version.stdout)?.[1] ?? lastLines(version.stdout, 1);
      // `criu check` tests the kernel features a dump needs; it exits non-zero with the missing one named.
      const check = await run(criuPath, ["check"], 30_000);
      criu.ok = check.code === 0;
      criu.detail = criu.ok
        ? lastLines(check.stdout || check.stderr, 1)
        : `criu check failed: ${lastLines(check.stderr || check.stdout)}`;
    } catch (error) {
      criu.detail = `criu not runnable at ${criuPath}: ${error instanceof Error ? error.message : String(error)}`;
    }
    const cudaCheckpoint: ToolReport["cudaCheckpoint"] = {
      path: cudaCheckpointPath,
      present: false,
      detail: "",
    };
    try {
      const help = await run(cudaCheckpointPath, ["--help"], 10_000);
      cudaCheckpoint.present = help.code === 0;
      cudaCheckpoint.detail = cudaCheckpoint.present ? "present" : lastLines(help.stderr);
    } catch (error) {
      cudaCheckpoint.detail = `not found at ${cudaCheckpointPath} (GPU state cannot be checkpointed): ${error instanceof Error ? error.message : String(error)}`;
    }
    return { criu, cudaCheckpoint };
  }

  /** A process holds CUDA state when cuda-checkpoint reports a state for it ("running"); it errors otherwise. */
  private async hasCuda(pid: number): Promise<boolean> {
    try {
      const state = await run(this.options.cudaCheckpointPath, ["--get-state", "--pid", String(pid)], 10_000);
      return state.code === 0 && /running|locked|checkpointed/.test(state.stdout);
    } catch {
      return false;
    }
  }

  private async toggleCuda(pid: number, phase: "dump_failed" | "restore_failed"): Promise<void> {
    const result = await run(
      this.options.cudaCheckpointPath,
      ["--toggle", "--pid", String(pid)],
      this.options.timeoutMs,
    );
    if (result.code !== 0)
      throw new CheckpointerError(
        phase,
        `cuda-checkpoint --toggle --pid ${pid}: ${lastLines(result.stderr || result.stdout)}`,
      );
  }

  async dump(pid: number, imagesDir: string, options: DumpOptions): Promise<DumpResult> {
    const cuda = await this.hasCuda(pid);
    if (cuda) await this.toggleCuda(pid, "dump_failed");
    const args = [
      "dump",
      "--tree",
      String(pid),
      "--images-dir",
      imagesDir,
      "--work-dir",
      options.workDir,
      "--log-file",
      "dump.log",
      ...CRIU_ENGINE_OPTIONS,
      ...(options.leaveRunning ? ["--leave-running"] : []),
    ];
    const result = await run(this.options.criuPath, args, this.options.timeoutMs);
    if (result.code !== 0) {
      // A failed dump leaves the process running; give its GPU state back so the engine keeps serving.
      if (cuda) await this.toggleCuda(pid, "dump_failed").catch(() => {});
      throw new CheckpointerError(
        "dump_failed",
        `criu dump: ${await this.logTail(options.workDir, "dump.log", result)}`,
      );
    }
    if (cuda && options.leaveRunning) await this.toggleCuda(pid, "dump_failed");
    return { cuda };
  }

  async restore(imagesDir: string, options: RestoreOptions): Promise<number> {
    const pidFile = join(options.workDir, "restore.pid");
    const args = [
      "restore",
      "--images-dir",
      imagesDir,
      "--work-dir",
      options.workDir,
      "--log-file",
      "restore.log",
      ...CRIU_ENGINE_OPTIONS,
      ...Object.entries(options.joinNamespaces).flatMap(([kind, file]) => ["--join-ns", `${kind}:${file}`]),
      "--restore-detached",
      "--pidfile",
      pidFile,
    ];
    const result = await run(this.options.criuPath, args, this.options.timeoutMs);
    if (result.code !== 0)
      throw new CheckpointerError(
        "restore_failed",
        `criu restore: ${await this.logTail(options.workDir, "restore.log", result)}`,
      );
    const pid = Number.parseInt((await readFile(pidFile, "utf8")).trim(), 10);
    if (!Number.isInteger(pid) || pid <= 0)
      throw new CheckpointerError("restore_failed", `criu restore wrote no pid to ${pidFile}`);
    if (options.cuda) await this.toggleCuda(pid, "restore_failed");
    return pid;
  }

  /** CRIU names the failing step in its log file, not on stderr. */
  private async logTail(workDir: string, name: string, result: RunResult): Promise<string> {
    const log = await readFile(join(workDir, name), "utf8").catch(() => "");
    return lastLines(log || result.stderr || result.stdout || `exit code ${result.code}`);
  }
}
