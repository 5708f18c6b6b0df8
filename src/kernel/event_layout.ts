// User-space mirror of `struct dmrec_event` (bpf/dmrec.h).
// test/unit/event_layout.test.ts checks every offset and size here against
// the BTF of the compiled object, so the two sides cannot drift apart silently.
import type { LossReason } from "../event.ts";

export const DMREC_NAME_BUF = 128;
export const DMREC_COMM_LEN = 16;
export const DMREC_KNAME_LEN = 56;
export const DMREC_CGROUP_NAME_LEN = 128;

export const EVENT_FIELDS = {
  boot_ns: { offset: 0, size: 8 },
  duration_ns: { offset: 8, size: 8 },
  name_ptr: { offset: 16, size: 8 },
  cgroup_id: { offset: 24, size: 8 },
  ret: { offset: 32, size: 8 },
  pid: { offset: 40, size: 4 },
  tid: { offset: 44, size: 4 },
  ppid: { offset: 48, size: 4 },
  uid: { offset: 52, size: 4 },
  gid: { offset: 56, size: 4 },
  euid: { offset: 60, size: 4 },
  flags: { offset: 64, size: 4 },
  name_entry_err: { offset: 68, size: 4 },
  name_exit_err: { offset: 72, size: 4 },
  name_entry_len: { offset: 76, size: 2 },
  name_exit_len: { offset: 78, size: 2 },
  hook: { offset: 80, size: 1 },
  freed: { offset: 81, size: 1 },
  name_kernel_seen: { offset: 82, size: 1 },
  pad: { offset: 83, size: 1 },
  name_kernel_len: { offset: 84, size: 2 },
  pad2: { offset: 86, size: 2 },
  comm: { offset: 88, size: DMREC_COMM_LEN },
  name_entry: { offset: 104, size: DMREC_NAME_BUF },
  name_exit: { offset: 232, size: DMREC_NAME_BUF },
  name_kernel: { offset: 360, size: DMREC_KNAME_LEN },
  cap_effective: { offset: 416, size: 8 },
  start_boottime: { offset: 424, size: 8 },
  loginuid: { offset: 432, size: 4 },
  sessionid: { offset: 436, size: 4 },
  mntns: { offset: 440, size: 4 },
  pidns: { offset: 444, size: 4 },
  utsns: { offset: 448, size: 4 },
  pad3: { offset: 452, size: 4 },
  parent_comm: { offset: 456, size: DMREC_COMM_LEN },
  cgroup_name: { offset: 472, size: DMREC_CGROUP_NAME_LEN },
} as const;

export const EVENT_SIZE = 600;

/** enum dmrec_hook */
export const HOOK_IDS = { 1: "kprobe", 2: "tracepoint", 3: "raw-syscalls" } as const;

/** enum dmrec_counter: indexes of the `counters` map. */
export const COUNTERS = { ringbuf_full: 0, inflight_full: 1, no_exit: 2 } as const satisfies Record<LossReason, number>;

/** The struct as the kernel wrote it, before any interpretation. */
export interface RawEvent {
  boot_ns: bigint;
  duration_ns: bigint;
  name_ptr: bigint;
  cgroup_id: bigint;
  ret: bigint;
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  gid: number;
  euid: number;
  flags: number;
  name_entry_err: number;
  name_exit_err: number;
  hook: number;
  freed: boolean;
  comm: Uint8Array;
  cap_effective: bigint;
  start_boottime: bigint;
  loginuid: number;
  sessionid: number;
  mntns: number;
  pidns: number;
  utsns: number;
  parent_comm: Uint8Array;
  cgroup_name: Uint8Array;
  /** the bytes before the NUL, copied out of the ring buffer */
  name_entry: Uint8Array;
  name_exit: Uint8Array;
  /** the kernel's own copy of the name, when a hook saw it */
  name_kernel: Uint8Array | null;
}

export class EventLayoutError extends Error {}

/** Reads one ring-buffer record. `bytes` may be reused by the caller afterwards. */
export function decodeRawEvent(bytes: Uint8Array): RawEvent {
  if (bytes.length !== EVENT_SIZE) {
    throw new EventLayoutError(`ring buffer record of ${bytes.length} bytes, expected ${EVENT_SIZE}`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const F = EVENT_FIELDS;
  const u64 = (f: { offset: number }) => v.getBigUint64(f.offset, true);
  const u32 = (f: { offset: number }) => v.getUint32(f.offset, true);
  const s32 = (f: { offset: number }) => v.getInt32(f.offset, true);
  const name = (f: { offset: number; size: number }, lenField: { offset: number }) => {
    const len = Math.min(v.getUint16(lenField.offset, true), f.size - 1);
    return bytes.slice(f.offset, f.offset + len);
  };
  /** A NUL-terminated char array, without its NUL; the whole array if it has none. */
  const cString = (f: { offset: number; size: number }) => {
    const field = bytes.subarray(f.offset, f.offset + f.size);
    const end = field.indexOf(0);
    return field.slice(0, end < 0 ? f.size : end);
  };
  return {
    boot_ns: u64(F.boot_ns),
    duration_ns: u64(F.duration_ns),
    name_ptr: u64(F.name_ptr),
    cgroup_id: u64(F.cgroup_id),
    ret: v.getBigInt64(F.ret.offset, true),
    pid: u32(F.pid),
    tid: u32(F.tid),
    ppid: u32(F.ppid),
    uid: u32(F.uid),
    gid: u32(F.gid),
    euid: u32(F.euid),
    flags: u32(F.flags),
    name_entry_err: s32(F.name_entry_err),
    name_exit_err: s32(F.name_exit_err),
    hook: v.getUint8(F.hook.offset),
    freed: v.getUint8(F.freed.offset) !== 0,
    comm: cString(F.comm),
    cap_effective: u64(F.cap_effective),
    start_boottime: u64(F.start_boottime),
    loginuid: u32(F.loginuid),
    sessionid: u32(F.sessionid),
    mntns: u32(F.mntns),
    pidns: u32(F.pidns),
    utsns: u32(F.utsns),
    parent_comm: cString(F.parent_comm),
    cgroup_name: cString(F.cgroup_name),
    name_entry: name(F.name_entry, F.name_entry_len),
    name_exit: name(F.name_exit, F.name_exit_len),
    name_kernel: v.getUint8(F.name_kernel_seen.offset) ? name(F.name_kernel, F.name_kernel_len) : null,
  };
}
