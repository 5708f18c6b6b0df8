// Best-effort facts user space adds to an event from /proc while the process
// may still exist: its executable path.
import { readFileSync, readlinkSync } from "node:fs";

const CLOCK_TICK_NS = 10_000_000n; // USER_HZ = 100 on every Linux architecture dmrec builds for

/**
 * /proc/PID/exe, but only if PID is still the task the kernel saw (its start
 * time matches): a pid reused by another process must not lend it its exe.
 */
export function exeOf(pid: number, startBoottimeNs: bigint): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22, counted after the ")" that ends comm (which may itself hold spaces or ")").
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTicks = BigInt(fields[19]!);
    const diff = startTicks - startBoottimeNs / CLOCK_TICK_NS;
    if (diff < -1n || diff > 1n) return null;
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

/**
 * exeOf, remembered per task (pid and start time): a flood from one process
 * costs one /proc lookup, not one per call. Bounded, oldest forgotten first.
 */
export function exeCache(limit = 1024): (pid: number, startBoottimeNs: bigint) => string | null {
  const known = new Map<string, string | null>();
  return (pid, start) => {
    const key = `${pid}:${start}`;
    let exe = known.get(key);
    if (exe === undefined) {
      exe = exeOf(pid, start);
      if (known.size >= limit) known.delete(known.keys().next().value!);
      known.set(key, exe);
    }
    return exe;
  };
}
