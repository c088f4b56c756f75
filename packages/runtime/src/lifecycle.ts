import { redactedError } from "./redact.js";

/** Anything long-running that can be stopped gracefully. */
export interface Service {
  stop(): Promise<void>;
}

/** The logging runUntilSignal needs; @kvasir/telemetry's logger fits. */
export interface LifecycleLog {
  info(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Stops `service` once on the first SIGTERM or SIGINT and exits 0 (1 if stop fails). A second signal while
 * stopping exits at once with 130, for an operator who does not want to wait for the drain.
 *
 * Given the promise of a service still starting, the handlers are installed at once, so a signal that arrives
 * during startup (after a ready line, before `start` returns) still stops it gracefully; if starting fails the
 * process exits 1.
 */
export function runUntilSignal(service: Service | Promise<Service>, log: LifecycleLog): void {
  let stopping = false;
  const started = Promise.resolve(service);
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.error("second signal while stopping; exiting now", { signal });
      process.exit(130);
    }
    stopping = true;
    log.info("stopping", { signal });
    started
      .then((running) => running.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error("stop failed", { signal, error: errorText(error) });
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  started.catch((error: unknown) => {
    if (stopping) return; // Reported by the stop path.
    log.error("failed to start", { error: errorText(error) });
    process.exit(1);
  });
}

// Start-up errors often quote a URL or config; they are redacted before they reach a log.
const errorText = (error: unknown): string => redactedError(error);
