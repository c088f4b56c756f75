// A worker in a container numbers its engine's pid in its own pid namespace; the agent runs in the host's (a
// privileged DaemonSet with hostPID) and CRIU needs the host's number. The kernel lists every pid a process has,
// outermost namespace first, on the NSpid line of /proc/<pid>/status; the innermost one is the number the worker
// sees.
import { readdir, readFile, readlink } from "node:fs/promises";

/** `pid:[inode]` of a process's pid namespace (`self`: this process's). */
export function pidNamespaceOf(pid: number | "self"): Promise<string> {
  return readlink(`/proc/${pid}/ns/pid`);
}

async function innermostPid(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const line = status.split("\n").find((l) => l.startsWith("NSpid:"));
  const last = line?.trim().split(/\s+/).at(-1);
  return last === undefined ? undefined : Number(last);
}

/**
 * The pid, in this process's namespace, of the process numbered `pid` in `namespace` (empty: this process's
 * namespace); undefined when no such process is visible from here.
 */
export async function resolveHostPid(namespace: string, pid: number): Promise<number | undefined> {
  if (!namespace || namespace === (await pidNamespaceOf("self"))) return pid;
  for (const entry of await readdir("/proc")) {
    const candidate = Number(entry);
    if (!Number.isInteger(candidate)) continue;
    try {
      if ((await pidNamespaceOf(candidate)) !== namespace) continue;
      if ((await innermostPid(candidate)) === pid) return candidate;
    } catch {
      // Exited while we looked, or not ours to read.
    }
  }
  return undefined;
}

/** Namespaces CRIU can join on restore (`--join-ns`), where a worker's pod differs from the agent. */
const JOINABLE = ["net", "uts", "ipc"] as const;

/** Of `pid`'s network, UTS and IPC namespaces, those not this process's, as CRIU's `--join-ns` takes them. */
export async function namespacesToJoin(pid: number): Promise<Record<string, string>> {
  const join: Record<string, string> = {};
  for (const kind of JOINABLE) {
    const theirs = await readlink(`/proc/${pid}/ns/${kind}`);
    if (theirs !== (await readlink(`/proc/self/ns/${kind}`))) join[kind] = `/proc/${pid}/ns/${kind}`;
  }
  return join;
}
