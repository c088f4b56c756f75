// Reference KV indexer: a radix tree over local block hashes, one node per distinct prefix, each node listing the
// (worker, dp rank) pairs that hold it. It is the oracle the native indexer is tested against, so it favours
// plain, obviously-correct code over speed.
import type { KvCacheEvent, StoredData } from "../events.js";
import { type KvIndexer, type WorkerBlocks, type WorkerMatch, workerKey } from "./types.js";

interface Node {
  local: bigint;
  seq: bigint;
  parent: Node | undefined;
  children: Map<bigint, Node>;
  /** Worker keys holding this block. */
  holders: Set<string>;
}

interface WorkerState {
  workerId: bigint;
  dpRank: number;
  held: Set<Node>;
}

/** Plain, JSON-serializable indexer state; u64 values as decimal strings. */
export interface RadixSnapshot {
  version: 1;
  workers: { workerId: string; dpRank: number }[];
  /** Last applied event_id per worker. */
  watermarks: { workerId: string; lastEventId: string }[];
  /** Parents come before their children; `parent` is an index into this list, -1 for the root. */
  nodes: { local: string; seq: string; parent: number; holders: number[] }[];
}

/** Events the indexer could not apply in full. */
export interface RadixIndexerCounters {
  /** Stored events whose parent sequence hash is in no worker's cache. */
  unknownParent: number;
  /** Stored events whose blocks and sequence hashes disagree in length. */
  malformedStored: number;
}

export class RadixIndexer implements KvIndexer {
  private readonly root = new Map<bigint, Node>();
  private readonly bySeq = new Map<bigint, Node>();
  private readonly workers = new Map<string, WorkerState>();
  private readonly watermarks = new Map<bigint, bigint>();
  readonly counters: RadixIndexerCounters = { unknownParent: 0, malformedStored: 0 };

  applyEvent(ev: KvCacheEvent): void {
    this.watermarks.set(ev.workerId, ev.eventId);
    const d = ev.data;
    switch (d.kind) {
      case "stored":
        this.store(ev.workerId, ev.dpRank, d);
        break;
      case "removed": {
        const w = this.workers.get(workerKey(ev.workerId, ev.dpRank));
        if (w === undefined) return;
        for (const seq of d.seqHashes) {
          const node = this.bySeq.get(seq);
          if (node !== undefined) this.release(w, node);
        }
        break;
      }
      case "cleared":
        this.dropWorkerState(workerKey(ev.workerId, ev.dpRank));
        break;
    }
  }

  findMatches(localHashes: BigUint64Array): WorkerMatch[] {
    const depth = new Map<string, number>();
    let children = this.root;
    let active: Set<string> | undefined;
    for (let i = 0; i < localHashes.length; i++) {
      const node = children.get(localHashes[i] as bigint);
      if (node === undefined) break;
      if (active === undefined) {
        active = new Set(node.holders);
      } else {
        for (const k of active) if (!node.holders.has(k)) active.delete(k);
      }
      if (active.size === 0) break;
      for (const k of active) depth.set(k, i + 1);
      children = node.children;
    }
    const out: WorkerMatch[] = [];
    for (const [k, matchedBlocks] of depth) {
      const w = this.workers.get(k);
      if (w !== undefined) out.push({ workerId: w.workerId, dpRank: w.dpRank, matchedBlocks });
    }
    return out;
  }

  removeWorker(workerId: bigint): void {
    for (const [k, w] of [...this.workers]) if (w.workerId === workerId) this.dropWorkerState(k);
    this.watermarks.delete(workerId);
  }

  clear(): void {
    this.root.clear();
    this.bySeq.clear();
    this.workers.clear();
    this.watermarks.clear();
  }

  /** Blocks held per (worker, dp rank). */
  workerBlocks(): WorkerBlocks[] {
    return [...this.workers.values()].map((w) => ({
      workerId: w.workerId,
      dpRank: w.dpRank,
      blocks: w.held.size,
    }));
  }

  /** Distinct blocks (prefixes) in the tree. */
  get nodeCount(): number {
    return this.bySeq.size;
  }

  /** event_id of the last event applied for a worker. */
  lastEventId(workerId: bigint): bigint | undefined {
    return this.watermarks.get(workerId);
  }

  snapshot(): RadixSnapshot {
    const workerIndex = new Map<string, number>();
    const workers: RadixSnapshot["workers"] = [];
    for (const [k, w] of this.workers) {
      workerIndex.set(k, workers.length);
      workers.push({ workerId: w.workerId.toString(), dpRank: w.dpRank });
    }
    const nodes: RadixSnapshot["nodes"] = [];
    const nodeIndex = new Map<Node, number>();
    // Breadth-first, so every parent is listed before its children.
    const queue: Node[] = [...this.root.values()];
    for (let i = 0; i < queue.length; i++) {
      const n = queue[i] as Node;
      nodeIndex.set(n, nodes.length);
      nodes.push({
        local: n.local.toString(),
        seq: n.seq.toString(),
        parent: n.parent === undefined ? -1 : (nodeIndex.get(n.parent) ?? -1),
        holders: [...n.holders].map((k) => workerIndex.get(k) ?? -1).filter((x) => x >= 0),
      });
      queue.push(...n.children.values());
    }
    const watermarks = [...this.watermarks].map(([id, ev]) => ({
      workerId: id.toString(),
      lastEventId: ev.toString(),
    }));
    return { version: 1, workers, watermarks, nodes };
  }

  /** Replaces the state with a snapshot's. Throws on a snapshot that is not well formed. */
  restore(s: RadixSnapshot): void {
    if (s.version !== 1) throw new Error(`unsupported radix snapshot version ${String(s.version)}`);
    this.clear();
    const keys = s.workers.map((w) => {
      const workerId = BigInt(w.workerId);
      const k = workerKey(workerId, w.dpRank);
      this.workers.set(k, { workerId, dpRank: w.dpRank, held: new Set() });
      return k;
    });
    const nodes: Node[] = [];
    for (const [i, n] of s.nodes.entries()) {
      if (n.parent >= i) throw new Error(`radix snapshot node ${i} lists its parent after itself`);
      const parent = n.parent < 0 ? undefined : nodes[n.parent];
      const node = this.child(parent, BigInt(n.local), BigInt(n.seq));
      for (const h of n.holders) {
        const k = keys[h];
        const w = k === undefined ? undefined : this.workers.get(k);
        if (k === undefined || w === undefined)
          throw new Error(`radix snapshot node ${i} names unknown worker ${h}`);
        node.holders.add(k);
        w.held.add(node);
      }
      nodes.push(node);
    }
    for (const w of s.watermarks) this.watermarks.set(BigInt(w.workerId), BigInt(w.lastEventId));
  }

  private store(workerId: bigint, dpRank: number, d: StoredData): void {
    if (d.localHashes.length !== d.seqHashes.length) {
      this.counters.malformedStored++;
      return;
    }
    let parent: Node | undefined;
    if (d.parentSeqHash !== undefined) {
      parent = this.bySeq.get(d.parentSeqHash);
      if (parent === undefined) {
        this.counters.unknownParent++;
        return;
      }
    }
    const k = workerKey(workerId, dpRank);
    let w = this.workers.get(k);
    if (w === undefined) {
      w = { workerId, dpRank, held: new Set() };
      this.workers.set(k, w);
    }
    for (let i = 0; i < d.localHashes.length; i++) {
      const node = this.child(parent, d.localHashes[i] as bigint, d.seqHashes[i] as bigint);
      node.holders.add(k);
      w.held.add(node);
      parent = node;
    }
  }

  /** The child of `parent` (the root when undefined) with this local hash, created when missing. */
  private child(parent: Node | undefined, local: bigint, seq: bigint): Node {
    const siblings = parent === undefined ? this.root : parent.children;
    let node = siblings.get(local);
    if (node === undefined) {
      node = { local, seq, parent, children: new Map(), holders: new Set() };
      siblings.set(local, node);
      this.bySeq.set(seq, node);
    }
    return node;
  }

  private release(w: WorkerState, node: Node): void {
    if (!node.holders.delete(workerKey(w.workerId, w.dpRank))) return;
    w.held.delete(node);
    this.prune(node);
  }

  /** Removes nodes nobody holds and nothing hangs from, walking up towards the root. */
  private prune(start: Node): void {
    let node: Node | undefined = start;
    while (node !== undefined && node.holders.size === 0 && node.children.size === 0) {
      const siblings: Map<bigint, Node> = node.parent === undefined ? this.root : node.parent.children;
      siblings.delete(node.local);
      if (this.bySeq.get(node.seq) === node) this.bySeq.delete(node.seq);
      node = node.parent;
    }
  }

  private dropWorkerState(k: string): void {
    const w = this.workers.get(k);
    if (w === undefined) return;
    this.workers.delete(k);
    for (const node of w.held) {
      node.holders.delete(k);
      this.prune(node);
    }
  }
}
