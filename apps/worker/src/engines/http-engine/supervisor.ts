// Keeps the engine running: starts it (or attaches to a running one), waits for its readiness endpoint, notices
// when it dies (process exit; for an attached engine, failed health checks) and restarts it by policy.
import type { Logger } from "@kvasir/telemetry";
import { joinCommand } from "./command-line.js";
import { describeExit, EngineProcess } from "./engine-process.js";
import type { EngineHttpClient } from "./http-client.js";

export type RestartPolicy = "never" | "on-failure";

export interface RestartOptions {
  policy: RestartPolicy;
  /** Restarts allowed over the worker's life before it gives up. */
  maxRestarts: number;
  /** First wait before a restart; doubles with each further one. */
  backoffMs: number;
}

export interface SupervisorEvents {
  /** The engine stopped answering; requests fail until `up`. */
  down(reason: string): void;
  /** A restarted (or recovered) engine is ready again. */
  up(): void;
  /** The engine is gone for good (no restart left). */
  failed(reason: string): void;
}

export interface SupervisorOptions {
  /** The command to run; undefined attaches to the engine at the client's URL. */
  command?: { argv: readonly string[]; env: Record<string, string> };
  client: EngineHttpClient;
  healthPath: string;
  /** Log prefix of the engine's output, e.g. `vllm`. */
  name: string;
  log: Logger;
  readyTimeoutMs: number;
  restart: RestartOptions;
  killGraceMs: number;
  /** Health checks of an attached engine, in ms. */
  healthIntervalMs: number;
  events: SupervisorEvents;
}

const POLL_MS = 200;
/** Failed health checks in a row before an attached engine counts as down. */
const ATTACHED_FAILURES = 3;

export class EngineSupervisor {
  private process: EngineProcess | undefined;
  private stopped = false;
  private restarts = 0;
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SupervisorOptions) {}

  /** Starts the engine (or checks the attached one) and resolves once it is ready; throws when it never is. */
  async start(): Promise<void> {
    const { command, log, name, client } = this.options;
    if (!command) {
      log.info("waiting for the engine", { engine: name, url: client.url.href });
      await this.waitReady(undefined);
      this.watchAttached();
      return;
    }
    await this.launch();
  }

  private async launch(): Promise<void> {
    const { command, log, name, killGraceMs } = this.options;
    if (!command) return;
    const child = new EngineProcess({ argv: command.argv, env: command.env, name, log, killGraceMs });
    this.process = child;
    log.info("engine starting", {
      engine: name,
      pid: child.pid,
      command: joinCommand(command.argv),
      // Names only: values may be tokens (HF_TOKEN=...).
      ...(Object.keys(command.env).length > 0 ? { env: Object.keys(command.env) } : {}),
    });
    try {
      await this.waitReady(child);
    } catch (error) {
      await child.kill();
      throw error;
    }
    log.info("engine ready", { engine: name, pid: child.pid });
    void child.exited.then((exit) => {
      if (this.stopped || this.process !== child) return;
      void this.died(`the engine ${describeExit(exit)}`);
    });
  }

  /** Polls the readiness endpoint until it answers 200, the process exits, the timeout passes or stop() runs. */
  private async waitReady(child: EngineProcess | undefined): Promise<void> {
    const { client, healthPath, readyTimeoutMs, name } = this.options;
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (this.stopped) throw new Error(`the worker stopped before ${name} was ready`);
      const exit = child?.exitStatus;
      if (exit) throw new Error(`${name} ${describeExit(exit)} before it was ready (see its output above)`);
      if ((await client.status(healthPath, { timeoutMs: 5000 })) === 200) return;
      if (Date.now() > deadline)
        throw new Error(
          `${name} at ${client.url.href} was not ready (GET ${healthPath}) within ${readyTimeoutMs} ms`,
        );
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  private async died(reason: string): Promise<void> {
    const { events, restart, log, name } = this.options;
    events.down(reason);
    while (!this.stopped && restart.policy === "on-failure" && this.restarts < restart.maxRestarts) {
      const wait = restart.backoffMs * 2 ** this.restarts;
      this.restarts++;
      log.warn("engine down, restarting", { engine: name, reason, restart: this.restarts, wait_ms: wait });
      await new Promise((resolve) => setTimeout(resolve, wait));
      if (this.stopped) return;
      try {
        await this.launch();
        events.up();
        return;
      } catch (error) {
        reason = error instanceof Error ? error.message : String(error);
      }
    }
    if (!this.stopped) events.failed(reason);
  }

  /** An attached engine is not ours to restart: it is down after failed checks and up when it answers again. */
  private watchAttached(): void {
    const { client, healthPath, healthIntervalMs, events } = this.options;
    let failures = 0;
    let down = false;
    const check = async () => {
      const ok = (await client.status(healthPath, { timeoutMs: healthIntervalMs * 2 })) === 200;
      if (this.stopped) return;
      if (ok) {
        failures = 0;
        if (down) {
          down = false;
          events.up();
        }
      } else if (++failures === ATTACHED_FAILURES && !down) {
        down = true;
        events.down(`${client.url.href}${healthPath.slice(1)} failed ${ATTACHED_FAILURES} health checks`);
      }
      this.healthTimer = setTimeout(check, healthIntervalMs);
    };
    this.healthTimer = setTimeout(check, healthIntervalMs);
  }

  /** The process of an engine the worker started (undefined when attached). */
  get pid(): number | undefined {
    return this.process?.pid;
  }

  /**
   * Stops watching without stopping the engine: it is about to be checkpointed, and its end (CRIU ends a dumped
   * process) is expected, not a failure to act on.
   */
  quiesce(): void {
    this.stopped = true;
    clearTimeout(this.healthTimer);
  }

  /** Stops watching and kills the engine the worker started (an attached one is left running). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.healthTimer);
    await this.process?.kill();
  }
}
