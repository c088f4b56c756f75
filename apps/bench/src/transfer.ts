// pnpm bench:transfer — GB/s of the native transfer engine over shared memory and TCP (loopback) for 64 KiB,
// 1 MiB and 64 MiB transfers, beside a plain memcpy (TypedArray.set) of the same sizes in the same run. Each cell
// is also measured per CPU-second (the process's CPU time, every thread): on a shared machine the process is
// descheduled for much of the wall time, which the CPU figure does not count.
//
// Flags: --streams N (default 4), --seconds S per cell (default 0.5)
import { randomFillSync } from "node:crypto";
import { formatTable, writeBenchResult } from "@kvasir/bench";
import { type Region, type RegionDescriptor, TransferEngine, type TransportName } from "@kvasir/native";
import type { FlagSpec } from "@kvasir/runtime";
import { benchFlags } from "./flags.js";

const flags: FlagSpec[] = [
  { name: "streams", type: "number", default: 4, help: "Parallel streams per transfer" },
  { name: "seconds", type: "number", default: 0.5, help: "Seconds timed per cell (at least 3 transfers)" },
];

const values = benchFlags(
  "bench:transfer",
  "GB/s of the native transfer engine over shared memory and TCP, beside memcpy.",
  flags,
);
const streams = values.streams as number;
const seconds = values.seconds as number;
const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [64 * KiB, MiB, 64 * MiB];

interface Rate {
  /** GB per wall-clock second. */
  wall: number;
  /** GB per second of this process's CPU time (all threads). */
  cpu: number;
}

/** Runs `once` repeatedly for about `seconds` (at least 3 times, after one warm-up). */
async function rate(bytes: number, once: () => Promise<void> | void): Promise<Rate> {
  await once();
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (n < 3 || performance.now() - t0 < seconds * 1000) {
    await once();
    n++;
  }
  const wall = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(c0);
  const cpu = (used.user + used.system) / 1e6;
  return { wall: (bytes * n) / wall / 1e9, cpu: (bytes * n) / cpu / 1e9 };
}

async function main(): Promise<void> {
  const owner = new TransferEngine({ threads: 4 });
  const client = new TransferEngine({ threads: 4 });
  owner.listen(0);
  const rows: { size: string; bytes: number; memcpy: Rate; cells: Record<string, Rate> }[] = [];
  try {
    for (const size of SIZES) {
      const src = new Uint8Array(size);
      randomFillSync(src);
      const dst = new Uint8Array(size);
      const memcpy = await rate(size, () => dst.set(src));
      const remote: Region = owner.registerShm({ size });
      const local: Region = client.registerMemory(src);
      const d: RegionDescriptor = owner.describe(remote);
      const seg = { localOffset: 0, remoteOffset: 0, length: size };
      const cells: Record<string, Rate> = {};
      for (const transport of ["shm", "tcp"] as TransportName[]) {
        cells[`${transport} write`] = await rate(size, () =>
          client.write(local, d, seg, { transport, streams }),
        );
        cells[`${transport} read`] = await rate(size, () =>
          client.read(local, d, seg, { transport, streams }),
        );
      }
      await client.deregister(local);
      await owner.deregister(remote);
      rows.push({
        size: size >= MiB ? `${size / MiB} MiB` : `${size / KiB} KiB`,
        bytes: size,
        memcpy,
        cells,
      });
    }
  } finally {
    owner.close();
    client.close();
  }
  const cols = ["shm write", "shm read", "tcp write", "tcp read"];
  const shm = (r: (typeof rows)[number], k: "wall" | "cpu") =>
    Math.max(r.cells["shm write"]?.[k] ?? 0, r.cells["shm read"]?.[k] ?? 0);
  console.log(
    formatTable(
      [
        "size",
        "memcpy GB/s",
        ...cols.map((c) => `${c} GB/s`),
        "shm / memcpy",
        "memcpy GB/CPU-s",
        "shm w/r GB/CPU-s",
        "shm / memcpy per CPU-s",
      ],
      rows.map((r) => [
        r.size,
        r.memcpy.wall,
        ...cols.map((c) => r.cells[c]?.wall),
        shm(r, "wall") / r.memcpy.wall,
        r.memcpy.cpu,
        `${(r.cells["shm write"]?.cpu ?? 0).toFixed(1)} / ${(r.cells["shm read"]?.cpu ?? 0).toFixed(1)}`,
        shm(r, "cpu") / r.memcpy.cpu,
      ]),
    ),
  );
  const path = writeBenchResult("transfer", {
    command: `pnpm bench:transfer ${process.argv.slice(2).join(" ")}`.trim(),
    streams,
    secondsPerCell: seconds,
    results: rows,
    note: "GB/s = 1e9 bytes/s; wall and per process CPU-second (all threads); one transfer at a time; memcpy is TypedArray.set on the JS thread; copies up to 1 MiB run on the calling thread; the machine has 2 cores",
  });
  console.log(`wrote ${path}`);
}

await main();
