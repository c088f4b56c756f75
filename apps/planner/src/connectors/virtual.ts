// Dynamo's virtual environment: decisions are recorded, nothing is started or stopped. For simulation, tests and
// a planner watching a deployment it must not touch.
import type { PoolName } from "../decide.js";
import type { Connector } from "./connector.js";

export interface RecordedScale {
  atMs: number;
  pool: PoolName;
  from: number;
  to: number;
}

export class VirtualConnector implements Connector {
  readonly environment = "virtual";
  readonly decisions: RecordedScale[] = [];
  private readonly replicas = new Map<PoolName, number>();

  constructor(private readonly now: () => number = Date.now) {}

  async scale(pool: PoolName, desired: number, observed: number): Promise<void> {
    const from = this.replicas.get(pool) ?? observed;
    if (from !== desired) this.decisions.push({ atMs: this.now(), pool, from, to: desired });
    this.replicas.set(pool, desired);
  }

  requested(pool: PoolName): number | undefined {
    return this.replicas.get(pool);
  }

  async close(): Promise<void> {}
}
