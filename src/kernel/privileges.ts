// What record needs before it touches the kernel: every permission of the runtime
// (Deno's), and loading tracing programs takes CAP_BPF and CAP_PERFMON (or
// CAP_SYS_ADMIN on older kernels).
import { readFileSync } from "node:fs";
import { PrivilegeError } from "../errors.ts";
import { permissionsWithheldFromRecording } from "../runtime.ts";

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** Effective capability mask of this process, from /proc/self/status. */
export function effectiveCapabilities(status = readFileSync("/proc/self/status", "utf8")): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export function hasCap(mask: bigint, cap: bigint): boolean {
  return ((mask >> cap) & 1n) === 1n;
}

/** Under Deno, `command` (record, doctor) needs every permission: refused up front with how to run it. */
export function assertRuntimePermits(command: "record" | "doctor"): void {
  const withheld = permissionsWithheldFromRecording();
  if (withheld.length === 0) return;
  const how = command === "record" ? "deno task record" : "deno run -A src/main.ts doctor";
  throw new PrivilegeError(`under Deno, ${command} needs every permission (not granted: ${withheld.join(", ")}); run it with ${how}`);
}

export function assertCanRecord(): void {
  assertRuntimePermits("record");
  const mask = effectiveCapabilities();
  const ok = hasCap(mask, CAP_SYS_ADMIN) || (hasCap(mask, CAP_BPF) && hasCap(mask, CAP_PERFMON));
  if (!ok) {
    throw new PrivilegeError(
      "record needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN) to load its BPF programs; run it with sudo",
    );
  }
}
