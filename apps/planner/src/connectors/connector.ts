// How a decision reaches the deployment (Dynamo's --environment): one connector per planner.
import type { PoolName } from "../decide.js";

export const ENVIRONMENTS = ["virtual", "local", "kubernetes"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export interface Connector {
  readonly environment: Environment;
  /**
   * Moves `pool` toward `desired` replicas; `observed` is how many workers discovery lists for it now. Resolves
   * once the change is requested (workers register and drain on their own time).
   */
  scale(pool: PoolName, desired: number, observed: number): Promise<void>;
  /** Replicas the connector has asked for (what Kubernetes calls spec.replicas), if it knows. */
  requested(pool: PoolName): number | undefined;
  close(): Promise<void>;
}
