// A worker whose engine can die (vLLM, SGLang) leaves discovery while the engine is down, so routers stop picking
// it (requests in flight fail over to other workers by migration), registers again when a restarted engine is
// ready, and stops when the engine is gone for good.
import type { Lease } from "@kvasir/runtime";
import type { Logger } from "@kvasir/telemetry";

export interface AvailabilityOptions {
  /** Writes the worker's discovery entries (instance, Model Deployment Card). */
  register(): Promise<Lease[]>;
  /** Stops the whole worker (drains, deregisters, closes the engine). */
  stop(): Promise<void>;
  /** After the worker stopped because its engine is gone (the CLI exits non-zero). */
  failed?(reason: string): void;
  log: Logger;
}

export class EngineAvailability {
  private leases: Lease[] = [];
  /** Set once the worker is ready to be registered at all. */
  private started = false;
  private down = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly options: AvailabilityOptions) {}

  /** The first registration, once the worker is ready; skipped when the engine went down meanwhile. */
  async registerFirst(): Promise<void> {
    await this.serial(async () => {
      this.started = true;
      if (!this.down) this.leases = await this.options.register();
    });
  }

  /** The EngineListener's availability callback. */
  readonly changed = (available: boolean, reason: string, final: boolean): void => {
    void this.serial(async () => {
      const { log } = this.options;
      if (final) {
        log.error("engine gone, stopping the worker", { reason });
        await this.revoke();
        await this.options.stop();
        this.options.failed?.(reason);
        return;
      }
      this.down = !available;
      if (!available) {
        await this.revoke();
        log.warn("deregistered while the engine is down", { reason });
      } else if (this.started && this.leases.length === 0) {
        this.leases = await this.options.register();
        log.info("registered again, the engine is back");
      }
    });
  };

  private async revoke(): Promise<void> {
    const leases = this.leases;
    this.leases = [];
    await Promise.all(leases.map((lease) => lease.revoke()));
  }

  /** Registration changes run one at a time, in order. */
  private serial(step: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(step).catch((error: unknown) => {
      this.options.log.error("registration change failed", { error: String(error) });
    });
    return this.chain;
  }
}
