import type { WorkerLoad } from "@kvasir/kv";
import { fromBinary, type LoadMetrics, LoadMetricsSchema } from "@kvasir/protocol";
import { type EventPlane, loadMetricsSubject } from "@kvasir/runtime";

/** Load-shedding thresholds; an absent one never makes a worker busy. */
export interface BusyThresholds {
  /** Fraction (0..1) of a rank's KV blocks in use. */
  activeDecodeBlocks?: number;
  /** Prompt tokens waiting for prefill on a rank. */
  activePrefillTokens?: number;
}

const rankKey = (instanceId: bigint, dpRank: number) => `${instanceId}:${dpRank}`;

/**
 * The load of every worker's dp rank: the latest LoadMetrics the workers published, and the requests this frontend
 * has in flight on each (metrics lag a step behind, and a burst must not all land on the same idle worker).
 */
export class LoadTracker {
  private readonly reported = new Map<string, LoadMetrics>();
  private readonly inFlight = new Map<string, number>();

  /** Applies one published LoadMetrics message. */
  apply(metrics: LoadMetrics): void {
    this.reported.set(rankKey(metrics.workerId, metrics.dpRank), metrics);
  }

  /** Active requests are the larger of the published count (running + waiting) and this frontend's own. */
  workerLoad(instanceId: bigint, dpRank: number): WorkerLoad {
    const key = rankKey(instanceId, dpRank);
    const metrics = this.reported.get(key);
    const reportedRequests = metrics ? metrics.numRequestsRunning + metrics.numRequestsWaiting : 0;
    return {
      activeRequests: Math.max(reportedRequests, this.inFlight.get(key) ?? 0),
      activeDecodeBlocks: metrics ? Number(metrics.activeKvBlocks) : 0,
      activePrefillTokens: metrics ? Number(metrics.prefillTokensInFlight) : 0,
    };
  }

  /**
   * Whether every dp rank of a worker is above a threshold (Dynamo's load shedding): KV usage as a fraction of
   * its blocks, or prompt tokens waiting for prefill. A rank without published metrics is not busy.
   */
  isBusy(instanceId: bigint, dataParallelSize: number, thresholds: BusyThresholds): boolean {
    for (let rank = 0; rank < dataParallelSize; rank++) {
      const metrics = this.reported.get(rankKey(instanceId, rank));
      if (!metrics) return false;
      const total = Number(metrics.totalKvBlocks);
      const usage = total > 0 ? Number(metrics.activeKvBlocks) / total : 0;
      const blocksBusy = thresholds.activeDecodeBlocks !== undefined && usage > thresholds.activeDecodeBlocks;
      const prefillBusy =
        thresholds.activePrefillTokens !== undefined &&
        Number(metrics.prefillTokensInFlight) > thresholds.activePrefillTokens;
      if (!blocksBusy && !prefillBusy) return false;
    }
    return true;
  }

  started(instanceId: bigint, dpRank: number): void {
    const key = rankKey(instanceId, dpRank);
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
  }

  ended(instanceId: bigint, dpRank: number): void {
    const key = rankKey(instanceId, dpRank);
    const left = (this.inFlight.get(key) ?? 1) - 1;
    if (left > 0) this.inFlight.set(key, left);
    else this.inFlight.delete(key);
  }

  /** Drops a worker that left discovery. */
  forget(instanceId: bigint): void {
    const prefix = `${instanceId}:`;
    for (const key of this.reported.keys()) if (key.startsWith(prefix)) this.reported.delete(key);
  }

  /** Follows the workers' load metrics on the event plane until the returned function is called. */
  follow(events: EventPlane, namespace: string, component = "backend"): () => void {
    const subscription = events.subscribe(loadMetricsSubject(namespace, component), (msg) => {
      try {
        this.apply(fromBinary(LoadMetricsSchema, msg.data));
      } catch {
        // A malformed message is dropped; the next step's metrics replace it.
      }
    });
    return () => subscription.unsubscribe();
  }
}
