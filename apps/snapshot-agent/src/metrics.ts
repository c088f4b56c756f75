// The agent's Prometheus families. Dynamo's snapshot agent publishes none under a documented name, so these follow
// Dynamo's dynamo_<component>_* pattern: durations and sizes of checkpoints and restores, failures by reason,
// collected checkpoints, and what storage holds.
import { createMetricsRegistry, hierarchyLabels, type MetricsRegistry } from "@kvasir/telemetry";
import { Counter, Gauge, Histogram } from "prom-client";
import type { AgentObserver, FailureReason } from "./agent.js";
import type { CheckpointRecord } from "./store.js";

const SECONDS = [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
const BYTES = [1, 16, 64, 256, 1024, 4096, 16384, 65536].map((mib) => mib * 1024 * 1024);

export class SnapshotMetrics implements AgentObserver {
  readonly registry: MetricsRegistry;
  private readonly checkpointSeconds: Histogram<never>;
  private readonly checkpointBytes: Histogram<never>;
  private readonly restoreSeconds: Histogram<never>;
  private readonly restoreBytes: Histogram<never>;
  private readonly failures: Counter<"operation" | "reason">;
  private readonly collectedTotal: Counter<"reason">;
  readonly checkpoints: Gauge<"phase">;
  readonly storageBytes: Gauge<never>;

  constructor(namespace: string) {
    this.registry = createMetricsRegistry(hierarchyLabels({ namespace, component: "snapshot-agent" }));
    const registers = [this.registry];
    this.checkpointSeconds = new Histogram({
      name: "dynamo_snapshot_checkpoint_duration_seconds",
      help: "Time to create a checkpoint (GPU state suspend, CRIU dump, manifest)",
      buckets: SECONDS,
      registers,
    });
    this.checkpointBytes = new Histogram({
      name: "dynamo_snapshot_checkpoint_size_bytes",
      help: "Size of each checkpoint's images",
      buckets: BYTES,
      registers,
    });
    this.restoreSeconds = new Histogram({
      name: "dynamo_snapshot_restore_duration_seconds",
      help: "Time to restore a checkpoint (manifest verification, CRIU restore, GPU state resume)",
      buckets: SECONDS,
      registers,
    });
    this.restoreBytes = new Histogram({
      name: "dynamo_snapshot_restore_size_bytes",
      help: "Size of the images each restore read",
      buckets: BYTES,
      registers,
    });
    this.failures = new Counter({
      name: "dynamo_snapshot_failures_total",
      help: "Checkpoints and restores that failed, by operation and reason",
      labelNames: ["operation", "reason"],
      registers,
    });
    this.collectedTotal = new Counter({
      name: "dynamo_snapshot_checkpoints_collected_total",
      help: "Checkpoints deleted by garbage collection, by reason (age, size, failed)",
      labelNames: ["reason"],
      registers,
    });
    this.checkpoints = new Gauge({
      name: "dynamo_snapshot_checkpoints",
      help: "Checkpoints in storage, by phase",
      labelNames: ["phase"],
      registers,
    });
    this.storageBytes = new Gauge({
      name: "dynamo_snapshot_storage_bytes",
      help: "Bytes of checkpoint images in storage",
      registers,
    });
  }

  checkpointed(record: CheckpointRecord, seconds: number): void {
    this.checkpointSeconds.observe(seconds);
    this.checkpointBytes.observe(record.sizeBytes);
  }

  restored(record: CheckpointRecord, seconds: number): void {
    this.restoreSeconds.observe(seconds);
    this.restoreBytes.observe(record.sizeBytes);
  }

  failed(operation: "checkpoint" | "restore", reason: FailureReason): void {
    this.failures.inc({ operation, reason });
  }

  collected(_record: CheckpointRecord, reason: "age" | "size" | "failed"): void {
    this.collectedTotal.inc({ reason });
  }

  /** Sets the storage gauges from the records in storage. */
  observeStorage(records: readonly CheckpointRecord[]): void {
    this.checkpoints.reset();
    for (const phase of ["Pending", "Creating", "Ready", "Failed"] as const)
      this.checkpoints.set({ phase }, records.filter((r) => r.phase === phase).length);
    this.storageBytes.set(records.reduce((sum, r) => sum + r.sizeBytes, 0));
  }
}
