// The pools' sizes and load as the serving core's worker pools see them (discovery plus published load metrics).
import type { WorkerPool, WorkerPools } from "@kvasir/serving";
import type { PoolName, PoolObservation, WorkerSample } from "./decide.js";

export function observePool(name: PoolName, pool: WorkerPool, model?: string): PoolObservation {
  const registered = pool.registered(model);
  const workers: WorkerSample[] = [];
  for (const worker of registered) {
    for (let rank = 0; rank < worker.dataParallelSize; rank++) {
      const m = pool.reportedLoad(worker.instanceId, rank);
      if (!m) continue;
      const total = Number(m.totalKvBlocks);
      workers.push({
        kvUsage: total > 0 ? Number(m.activeKvBlocks) / total : 0,
        waiting: m.numRequestsWaiting,
        running: m.numRequestsRunning,
      });
    }
  }
  return { pool: name, replicas: registered.length, workers };
}

export function observePools(pools: WorkerPools, model?: string): Record<PoolName, PoolObservation> {
  return {
    prefill: observePool("prefill", pools.prefill, model),
    decode: observePool("decode", pools.decode, model),
    backend: observePool("backend", pools.backend, model),
  };
}
