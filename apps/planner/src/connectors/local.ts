// The local environment: `kvasir worker` processes on this host, started with the pool's command line and
// stopped with SIGTERM, on which a worker deregisters, finishes its streams and exits (docs/serving.md).
import { type ChildProcess, spawn } from "node:child_process";
import type { PoolName } from "../decide.js";
import type { Connector } from "./connector.js";

export interface LocalPoolCommand {
  /** Program and its leading arguments, e.g. [node, cli.js, "worker"]. */
  command: readonly string[];
  /** The pool's worker flags. */
  args: readonly string[];
}

export interface LocalConnectorOptions {
  pools: Partial<Record<PoolName, LocalPoolCommand>>;
  /** Where the workers' output goes: this process's stderr (default) or nowhere. */
  output?: "inherit" | "ignore";
  /** Grace after SIGTERM before SIGKILL, on close only (a scale-down waits for the drain). */
  killAfterMs?: number;
  env?: NodeJS.ProcessEnv;
  log?: {
    info(message: string, fields?: Record<string, unknown>): void;
    warn(message: string, fields?: Record<string, unknown>): void;
  };
}

interface Child {
  process: ChildProcess;
  startedAt: number;
  /** Its instance id once it logged `worker ready`. */
  instanceId?: string;
  exited: Promise<void>;
}

/** Splits a command line on whitespace, honouring single and double quotes (no expansion). */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)) {
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : (m[2] ?? m[3] ?? ""));
  }
  return out;
}

/** The instance id of a worker's `worker ready` log line (JSON, as @kvasir/telemetry writes it). */
export function readyInstance(line: string): string | undefined {
  if (!line.includes("worker ready")) return undefined;
  try {
    const record: unknown = JSON.parse(line);
    if (typeof record !== "object" || record === null) return undefined;
    const fields = new Map(Object.entries(record));
    const id = fields.get("instance_id");
    return fields.get("msg") === "worker ready" && typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

/** How many of the pool's processes to start or stop: the pool counts workers it did not start as fixed. */
export function localPlan(desired: number, observed: number, running: number, ready: number) {
  const foreign = Math.max(0, observed - ready);
  const target = Math.max(0, desired - foreign);
  return { start: Math.max(0, target - running), stop: Math.max(0, running - target), foreign, target };
}

export class LocalConnector implements Connector {
  readonly environment = "local";
  private readonly children = new Map<PoolName, Child[]>();
  private readonly stopping = new Set<Child>();
  private readonly asked = new Map<PoolName, number>();

  constructor(private readonly options: LocalConnectorOptions) {}

  /** Processes of the pool that are running (started and not told to stop). */
  running(pool: PoolName): number {
    return this.children.get(pool)?.length ?? 0;
  }

  async scale(pool: PoolName, desired: number, observed: number): Promise<void> {
    const line = this.options.pools[pool];
    const list = this.children.get(pool) ?? [];
    this.children.set(pool, list);
    const ready = list.filter((c) => c.instanceId !== undefined).length;
    const plan = localPlan(desired, observed, list.length, ready);
    this.asked.set(pool, desired);
    if (plan.foreign > desired) {
      this.options.log?.warn("pool has more workers this planner did not start than it wants; leaving them", {
        pool,
        foreign: plan.foreign,
        desired,
      });
    }
    if (plan.start > 0 && !line) {
      this.options.log?.warn("no worker command for the pool; cannot start workers", { pool });
      return;
    }
    for (let i = 0; i < plan.start && line; i++) list.push(this.spawn(pool, line));
    // Newest first: a worker still starting holds no streams.
    for (const child of list.splice(list.length - plan.stop, plan.stop).reverse()) {
      this.stopping.add(child);
      child.process.kill("SIGTERM");
      this.options.log?.info("worker told to drain", {
        pool,
        pid: child.process.pid,
        instance_id: child.instanceId,
      });
      void child.exited.then(() => this.stopping.delete(child));
    }
  }

  private spawn(pool: PoolName, line: LocalPoolCommand): Child {
    const [program, ...lead] = line.command;
    if (!program) throw new RangeError("empty worker command");
    const proc = spawn(program, [...lead, ...line.args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: this.options.env ?? process.env,
    });
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    const child: Child = { process: proc, startedAt: Date.now(), exited };
    const forward = this.options.output !== "ignore";
    let buffered = "";
    const scan = (chunk: Buffer) => {
      if (forward) process.stderr.write(chunk);
      if (child.instanceId !== undefined) return;
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const l of lines) child.instanceId ??= readyInstance(l);
    };
    proc.stdout?.on("data", scan);
    proc.stderr?.on("data", scan);
    proc.once("exit", (code, signal) => {
      const list = this.children.get(pool);
      const at = list?.indexOf(child) ?? -1;
      if (list && at >= 0) {
        list.splice(at, 1);
        this.options.log?.warn("worker exited unasked", { pool, pid: proc.pid, code, signal });
      } else {
        this.options.log?.info("worker exited", { pool, pid: proc.pid, code, signal });
      }
    });
    this.options.log?.info("worker started", { pool, pid: proc.pid });
    return child;
  }

  requested(pool: PoolName): number | undefined {
    return this.asked.get(pool);
  }

  /** Stops every worker it started (SIGTERM, then SIGKILL after the grace) and waits for them to exit. */
  async close(): Promise<void> {
    const all = [...[...this.children.values()].flat(), ...this.stopping];
    this.children.clear();
    await Promise.all(
      all.map(async (child) => {
        if (child.process.exitCode === null && child.process.signalCode === null)
          child.process.kill("SIGTERM");
        const timer = setTimeout(() => child.process.kill("SIGKILL"), this.options.killAfterMs ?? 30_000);
        await child.exited;
        clearTimeout(timer);
      }),
    );
  }
}
