// TransferEngine: registered memory regions, serializable descriptors, and async reads/writes between them.
// Bytes move on native threads (memcpy for same-process and shared-memory regions, TCP streams otherwise);
// JavaScript only starts transfers and sees the promise settle.
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, unlinkSync } from "node:fs";
import { hostname } from "node:os";
import { type RawTransferEngine, requireAddon } from "./addon.js";

/** Where a region lives; JSON-serializable, so it can travel in kv_transfer_params and the like. */
export interface RegionDescriptor {
  v: 1;
  /** Engine that owns the region. */
  engine: string;
  /** Host name of that engine, to decide whether a shared-memory file is reachable. */
  host: string;
  region: number;
  size: number;
  tcp?: { address: string; port: number };
  shm?: { path: string };
}

export interface TransferSegment {
  localOffset: number;
  remoteOffset: number;
  length: number;
}

export type TransportName = "local" | "shm" | "tcp";

export interface TransferOptions {
  /** Forces a transport; by default the engine picks local, then shm (same host), then TCP. */
  transport?: TransportName;
  /** Parallel streams (native threads, and TCP connections). Default: the engine's. */
  streams?: number;
}

/**
 * A way to reach remote regions. The engine's own transports (local, shm, TCP) implement it natively; a NIXL
 * (RDMA) backend would be another implementation, chosen for descriptors it can reach.
 */
export interface TransferBackend {
  readonly name: string;
  canReach(remote: RegionDescriptor): boolean;
  transfer(
    op: "read" | "write",
    local: Region,
    remote: RegionDescriptor,
    segments: readonly TransferSegment[],
    streams: number,
  ): Promise<void>;
}

export class Region {
  constructor(
    readonly id: number,
    readonly size: number,
    /** The region's bytes as seen from JavaScript. */
    readonly bytes: Uint8Array,
    /** Set for shared-memory file regions. */
    readonly shmPath: string | undefined,
    /** True when this engine created the file and unlinks it on deregister. */
    readonly ownsFile: boolean,
  ) {}
}

export interface TransferEngineOptions {
  /** Native data-path threads. Default 4. */
  threads?: number;
  /** Default streams per transfer. Default 4. */
  streams?: number;
}

function toSegments(segments: TransferSegment | readonly TransferSegment[]): readonly TransferSegment[] {
  return Array.isArray(segments) ? segments : [segments as TransferSegment];
}

const SHM_DIR = "/dev/shm";
const SHM_FILE = /^kvasir-(\d+)-[0-9a-f]{16}-\d+$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the shared-memory region files of engines whose process is gone (a SIGKILLed worker cannot unlink its
 * own), so they do not hold memory until reboot. Returns how many were removed.
 */
export function removeOrphanedShmFiles(dir = SHM_DIR): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const pid = SHM_FILE.exec(name)?.[1];
    if (pid === undefined || processAlive(Number(pid))) continue;
    try {
      unlinkSync(`${dir}/${name}`);
      removed++;
    } catch {
      // Removed by another process meanwhile, or not ours to remove.
    }
  }
  return removed;
}

export class TransferEngine {
  readonly engineId = randomBytes(8).toString("hex");
  private readonly raw: RawTransferEngine;
  private readonly regions = new Map<number, Region>();
  private readonly backends: TransferBackend[] = [];
  private readonly streams: number;
  private port: number | undefined;
  private tcpAddress = "127.0.0.1";
  private shmCount = 0;
  private readonly oneSegment = new Float64Array(3);

  constructor(opts: TransferEngineOptions = {}) {
    this.raw = new (requireAddon().TransferEngine)(opts.threads ?? 4);
    this.streams = opts.streams ?? 4;
  }

  /**
   * Serves this engine's regions over TCP; returns the port. `host` is the IPv4 address bound (0.0.0.0 for every
   * interface, so peers on other hosts can read); descriptors carry `advertise`, the address peers dial, which
   * defaults to `host` unless that is a wildcard.
   */
  listen(port = 0, opts: { host?: string; advertise?: string } = {}): number {
    const host = opts.host ?? "127.0.0.1";
    this.port = this.raw.listen(port, host);
    this.tcpAddress = opts.advertise ?? (host === "0.0.0.0" ? "127.0.0.1" : host);
    return this.port;
  }

  /** Registers JavaScript memory; it stays referenced until deregister() resolves. */
  registerMemory(memory: Uint8Array | SharedArrayBuffer): Region {
    const bytes = memory instanceof Uint8Array ? memory : new Uint8Array(memory);
    const id = this.raw.registerMemory(bytes);
    const r = new Region(id, bytes.byteLength, bytes, undefined, false);
    this.regions.set(id, r);
    return r;
  }

  /** Maps a shared-memory file (created under /dev/shm unless a path is given) as a region. */
  registerShm(opts: { size: number; path?: string; create?: boolean }): Region {
    const create = opts.create ?? opts.path === undefined;
    // The creating process's id in the name lets a later process remove files a killed one could not.
    const path = opts.path ?? `${SHM_DIR}/kvasir-${process.pid}-${this.engineId}-${++this.shmCount}`;
    const id = this.raw.registerShmFile(path, opts.size, create);
    const r = new Region(id, opts.size, new Uint8Array(this.raw.regionView(id)), path, create);
    this.regions.set(id, r);
    return r;
  }

  /** The region's descriptor, to hand to a peer. */
  describe(region: Region): RegionDescriptor {
    const d: RegionDescriptor = {
      v: 1,
      engine: this.engineId,
      host: hostname(),
      region: region.id,
      size: region.size,
    };
    if (this.port !== undefined) d.tcp = { address: this.tcpAddress, port: this.port };
    if (region.shmPath !== undefined) d.shm = { path: region.shmPath };
    return d;
  }

  /** Adds a backend (e.g. NIXL) tried before the built-in transports for descriptors it can reach. */
  addBackend(b: TransferBackend): void {
    this.backends.push(b);
  }

  /** Copies remote bytes into the local region. */
  read(
    local: Region,
    remote: RegionDescriptor,
    segments: TransferSegment | readonly TransferSegment[],
    opts: TransferOptions = {},
  ): Promise<void> {
    return this.move("read", local, remote, toSegments(segments), opts);
  }

  /** Copies local bytes into the remote region. */
  write(
    local: Region,
    remote: RegionDescriptor,
    segments: TransferSegment | readonly TransferSegment[],
    opts: TransferOptions = {},
  ): Promise<void> {
    return this.move("write", local, remote, toSegments(segments), opts);
  }

  /** Stops new copies on the region; resolves once copies in flight have left it. */
  async deregister(region: Region): Promise<void> {
    if (!this.regions.delete(region.id)) throw new Error(`region ${region.id} is not registered here`);
    await this.raw.deregister(region.id);
    if (region.ownsFile && region.shmPath !== undefined && existsSync(region.shmPath))
      unlinkSync(region.shmPath);
  }

  /** Fails transfers in flight, stops the TCP server and unlinks the shared-memory files this engine made. */
  close(): void {
    this.raw.close();
    for (const r of this.regions.values()) {
      if (r.ownsFile && r.shmPath !== undefined && existsSync(r.shmPath)) unlinkSync(r.shmPath);
    }
    this.regions.clear();
  }

  // Not async: one promise per transfer (the native one), which matters at memcpy speeds; errors found here
  // still come back as a rejected promise.
  private move(
    op: "read" | "write",
    local: Region,
    remote: RegionDescriptor,
    segments: readonly TransferSegment[],
    opts: TransferOptions,
  ): Promise<void> {
    try {
      if (this.regions.get(local.id) !== local) throw new Error(`region ${local.id} is not registered here`);
      const streams = opts.streams ?? this.streams;
      const backend =
        opts.transport === undefined ? this.backends.find((b) => b.canReach(remote)) : undefined;
      if (backend !== undefined) return backend.transfer(op, local, remote, segments, streams);
      // The native call reads the segments before it returns, so one array serves every single-range transfer.
      const flat = segments.length === 1 ? this.oneSegment : new Float64Array(segments.length * 3);
      for (let i = 0; i < segments.length; i++) {
        const s = segments[i] as TransferSegment;
        flat[3 * i] = s.localOffset;
        flat[3 * i + 1] = s.remoteOffset;
        flat[3 * i + 2] = s.length;
      }
      // `local`'s memory stays reachable through this.regions until deregister, which waits for copies in flight.
      return this.raw.transfer(op, local.id, this.remoteSpec(remote, opts.transport), flat, streams);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private remoteSpec(d: RegionDescriptor, forced: TransportName | undefined): string {
    const transport = forced ?? this.pick(d);
    switch (transport) {
      case "local":
        if (d.engine !== this.engineId) throw new Error("the local transport needs a region of this engine");
        return `local:${d.region}`;
      case "shm":
        if (d.shm === undefined) throw new Error("the remote region is not in shared memory");
        return `shm:${d.size}:${d.shm.path}`;
      case "tcp":
        if (d.tcp === undefined) throw new Error("the remote engine does not listen on TCP");
        return `tcp:${d.tcp.address}:${d.tcp.port}:${d.region}`;
    }
  }

  private pick(d: RegionDescriptor): TransportName {
    if (d.engine === this.engineId) return "local";
    if (d.shm !== undefined && d.host === hostname() && existsSync(d.shm.path)) return "shm";
    return "tcp";
  }
}
