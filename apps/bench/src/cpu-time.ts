// CPU time of another process, read from /proc/<pid>/stat (user + system, all threads), for benchmarks that
// measure what a request costs each process of a deployment rather than how long it takes on a shared machine.
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on every Linux architecture Node runs on). */
const TICKS_PER_SECOND = 100;

/** CPU milliseconds in user space and in the kernel (system calls: socket writes and reads, mostly). */
export interface CpuMs {
  user: number;
  system: number;
}

/**
 * Parses the utime and stime fields (14 and 15) of a /proc/<pid>/stat line into milliseconds. The command name
 * (field 2) is in parentheses and may hold spaces, so fields are counted from its closing parenthesis.
 */
export function parseProcStat(stat: string): CpuMs {
  const close = stat.lastIndexOf(")");
  if (close < 0) throw new Error("not a /proc/<pid>/stat line");
  // After ") " come field 3 (state) onwards; utime is field 14, so index 11 here.
  const fields = stat.slice(close + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime))
    throw new Error("no utime/stime in /proc/<pid>/stat");
  return { user: (utime * 1000) / TICKS_PER_SECOND, system: (stime * 1000) / TICKS_PER_SECOND };
}

/** CPU milliseconds `pid` has used so far (every thread: JavaScript, GC, I/O). */
export function processCpuMs(pid: number): CpuMs {
  return parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
}
