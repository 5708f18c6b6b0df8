// Facts about the recording host for the capture header.
import { readFileSync } from "node:fs";
import os from "node:os";
import { clockNs } from "./ffi.ts";

export function hostInfo(): { hostname: string; kernel: string; boot_id: string; arch: string } {
  let boot_id = "";
  try {
    boot_id = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    // Not fatal: boot_id only helps tell reboots apart.
  }
  return { hostname: os.hostname(), kernel: os.release(), boot_id, arch: os.machine() };
}

/**
 * Offset from CLOCK_BOOTTIME to CLOCK_REALTIME, from the tightest of a few
 * realtime/boottime/realtime samples, so wall = boot + offset; and the boot
 * time it was taken at.
 */
export function sampleClock(): { bootNs: bigint; offsetNs: bigint } {
  let best: { width: bigint; bootNs: bigint; offsetNs: bigint } | undefined;
  for (let i = 0; i < 5; i++) {
    const r1 = clockNs("realtime");
    const b = clockNs("boottime");
    const r2 = clockNs("realtime");
    const width = r2 - r1;
    if (!best || width < best.width) best = { width, bootNs: b, offsetNs: (r1 + r2) / 2n - b };
  }
  return { bootNs: best!.bootNs, offsetNs: best!.offsetNs };
}
