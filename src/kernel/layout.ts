// User-space mirror of the structs in bpf/dmrec.h that cross to user space,
// and their decoding. test/unit/event_layout.test.ts checks every offset and
// size here against the BTF of the compiled object, so the two sides cannot
// drift apart silently.
import type { LossReason } from "../event.ts";

export const DMREC_NAME_BUF = 128;
export const DMREC_COMM_LEN = 16;
export const DMREC_KNAME_LEN = 56;
export const DMREC_CGROUP_NAME_LEN = 128;
export const DMREC_PATH_BUF = 256;
export const DMREC_ARGV_BUF = 256;
export const DMREC_TTY_LEN = 64;
export const DMREC_TAIL_MAX = 2 * DMREC_NAME_BUF + DMREC_KNAME_LEN + DMREC_CGROUP_NAME_LEN + 2 * DMREC_PATH_BUF + DMREC_ARGV_BUF + DMREC_TTY_LEN;

interface Field {
  offset: number;
  size: number;
}

const f = (offset: number, size: number): Field => ({ offset, size });

/** Each struct's size and fields, in declaration order (the layout test compares the order too). */
export const STRUCTS = {
  dmrec_context: {
    size: 104,
    fields: {
      cgroup_id: f(0, 8), cap_effective: f(8, 8), start_boottime: f(16, 8),
      pid: f(24, 4), tid: f(28, 4), ppid: f(32, 4), uid: f(36, 4), gid: f(40, 4), euid: f(44, 4),
      loginuid: f(48, 4), sessionid: f(52, 4), mntns: f(56, 4), pidns: f(60, 4), utsns: f(64, 4), pad: f(68, 4),
      comm: f(72, DMREC_COMM_LEN), parent_comm: f(88, DMREC_COMM_LEN),
    },
  },
  dmrec_exe: {
    size: 16,
    fields: { ino: f(0, 8), dev: f(8, 4), path_len: f(12, 2), flags: f(14, 1), pad: f(15, 1) },
  },
  dmrec_event: {
    size: 1488,
    fields: {
      boot_ns: f(0, 8), duration_ns: f(8, 8), name_ptr: f(16, 8), ret: f(24, 8), flags: f(32, 4),
      name_entry_err: f(36, 4), name_exit_err: f(40, 4),
      name_entry_len: f(44, 2), name_exit_len: f(46, 2), name_kernel_len: f(48, 2), cgroup_name_len: f(50, 2),
      hook: f(52, 1), freed: f(53, 1), name_kernel_seen: f(54, 1), pad: f(55, 9),
      exe: f(64, 16), parent_exe: f(80, 16), argv_err: f(96, 4), argv_len: f(100, 2), tty_len: f(102, 2),
      argv_flags: f(104, 1), pad2: f(105, 7), ctx: f(112, 104), tail: f(216, DMREC_TAIL_MAX),
    },
  },
  dmrec_agg_key: {
    size: 16,
    fields: { name_hash: f(0, 8), pid: f(8, 4), ret: f(12, 2), reads: f(14, 1), toctou: f(15, 1) },
  },
  dmrec_agg: {
    size: 1520,
    fields: { count: f(0, 8), first_ns: f(8, 8), last_ns: f(16, 8), events: f(24, 4), pad: f(28, 4), first: f(32, 1488) },
  },
  dmrec_proc_key: { size: 8, fields: { pid: f(0, 4), ret: f(4, 4) } },
  dmrec_proc_agg: {
    size: 264,
    fields: {
      count: f(0, 8), first_ns: f(8, 8), last_ns: f(16, 8), hook: f(24, 1), pad: f(25, 5), cgroup_name_len: f(30, 2),
      ctx: f(32, 104), cgroup_name: f(136, DMREC_CGROUP_NAME_LEN),
    },
  },
  dmrec_proc_budget: { size: 12, fields: { events: f(0, 4), toctou_events: f(4, 4), keys: f(8, 4) } },
  dmrec_control: {
    size: 24,
    fields: {
      gen: f(0, 4), budget_key: f(4, 4), budget_process: f(8, 4), budget_global: f(12, 4),
      budget_toctou_process: f(16, 4), budget_toctou_global: f(20, 4),
    },
  },
  dmrec_totals: {
    size: 40,
    fields: { events: f(0, 8), toctou_events: f(8, 8), overflow_count: f(16, 8), overflow_first_ns: f(24, 8), overflow_last_ns: f(32, 8) },
  },
} as const;

const EV = STRUCTS.dmrec_event.fields;
const EXE = STRUCTS.dmrec_exe.fields;
const CTX = STRUCTS.dmrec_context.fields;
/** Bytes of a record before its tail (DMREC_EVENT_FIXED). */
export const EVENT_FIXED = EV.tail.offset;

/** enum dmrec_exe_flag */
export const EXE_FLAGS = { none: 1, deleted: 2, truncated: 4, unreachable: 8 } as const;
/** enum dmrec_argv_flag */
export const ARGV_FLAGS = { none: 1, truncated: 2 } as const;

/** struct dmrec_exe and the path from the record's tail, as the kernel wrote them. */
export interface RawExe {
  ino: bigint;
  /** the kernel's dev_t */
  dev: number;
  flags: number;
  /** names leaf first, each followed by "/"; a view */
  path: Uint8Array;
}

/** enum dmrec_hook */
export const HOOK_IDS = { 1: "kprobe", 2: "tracepoint", 3: "raw-syscalls" } as const;

/** enum dmrec_counter: indexes of the `counters` map. */
export const COUNTERS = { ringbuf_full: 0, inflight_full: 1, no_exit: 2 } as const satisfies Record<LossReason, number>;

/** struct dmrec_context as the kernel wrote it. */
export interface RawContext {
  cgroup_id: bigint;
  cap_effective: bigint;
  start_boottime: bigint;
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  gid: number;
  euid: number;
  loginuid: number;
  sessionid: number;
  mntns: number;
  pidns: number;
  utsns: number;
  comm: Uint8Array;
  parent_comm: Uint8Array;
}

/**
 * A record as the kernel wrote it, before any interpretation. Its byte
 * fields are views into the record: whoever keeps one copies it.
 */
export interface RawEvent {
  boot_ns: bigint;
  duration_ns: bigint;
  name_ptr: bigint;
  ret: bigint;
  flags: number;
  name_entry_err: number;
  name_exit_err: number;
  hook: number;
  freed: boolean;
  /** struct dmrec_context, undecoded: a flood repeats the same one, which decodes once (kernel/decode.ts) */
  ctx: Uint8Array;
  cgroup_name: Uint8Array;
  name_entry: Uint8Array;
  name_exit: Uint8Array;
  /** the kernel's own copy of the name, when a hook saw it */
  name_kernel: Uint8Array | null;
  /**
   * What the task ran, undecoded (decodeImage): the fixed fields from `exe` to `pad2`, and
   * the tail from the executable's path on. A flood repeats them, and they decode once.
   */
  image_fixed: Uint8Array;
  image_tail: Uint8Array;
}

/** The image of a record (decodeImage): its byte fields are views. */
export interface RawImage {
  exe: RawExe;
  parent_exe: RawExe;
  /** the argument area as read: arguments NUL-terminated (the last one's NUL missing when cut) */
  argv: Uint8Array;
  argv_err: number;
  argv_flags: number;
  /** the controlling terminal's name, empty for none */
  tty: Uint8Array;
}

/** Decodes a record's image_fixed and image_tail (their lengths were checked with the record's). */
export function decodeImage(fixed: Uint8Array, tail: Uint8Array): RawImage {
  const v = viewOf(fixed);
  const base = EV.exe.offset;
  const pathLen = v.getUint16(EXE.path_len.offset, true);
  const parentPathLen = v.getUint16(EV.parent_exe.offset - base + EXE.path_len.offset, true);
  const argvLen = v.getUint16(EV.argv_len.offset - base, true);
  const exe = (at: number, path: Uint8Array): RawExe => ({
    ino: v.getBigUint64(at - base + EXE.ino.offset, true),
    dev: v.getUint32(at - base + EXE.dev.offset, true),
    flags: v.getUint8(at - base + EXE.flags.offset),
    path,
  });
  const argvAt = pathLen + parentPathLen;
  return {
    exe: exe(EV.exe.offset, tail.subarray(0, pathLen)),
    parent_exe: exe(EV.parent_exe.offset, tail.subarray(pathLen, argvAt)),
    argv: tail.subarray(argvAt, argvAt + argvLen),
    argv_err: v.getInt32(EV.argv_err.offset - base, true),
    argv_flags: v.getUint8(EV.argv_flags.offset - base),
    tty: tail.subarray(argvAt + argvLen),
  };
}

export class EventLayoutError extends Error {}

/** A NUL-terminated char array, without its NUL; the whole array if it has none. A view. */
function cString(bytes: Uint8Array, field: Field): Uint8Array {
  const at = field.offset;
  const end = bytes.subarray(at, at + field.size).indexOf(0);
  return bytes.subarray(at, at + (end < 0 ? field.size : end));
}

const viewOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Decodes struct dmrec_context (`ctx` holds exactly it). Byte fields are views. */
export function decodeContext(ctx: Uint8Array): RawContext {
  const v = viewOf(ctx);
  const u32 = (fd: Field) => v.getUint32(fd.offset, true);
  const u64 = (fd: Field) => v.getBigUint64(fd.offset, true);
  return {
    cgroup_id: u64(CTX.cgroup_id),
    cap_effective: u64(CTX.cap_effective),
    start_boottime: u64(CTX.start_boottime),
    pid: u32(CTX.pid),
    tid: u32(CTX.tid),
    ppid: u32(CTX.ppid),
    uid: u32(CTX.uid),
    gid: u32(CTX.gid),
    euid: u32(CTX.euid),
    loginuid: u32(CTX.loginuid),
    sessionid: u32(CTX.sessionid),
    mntns: u32(CTX.mntns),
    pidns: u32(CTX.pidns),
    utsns: u32(CTX.utsns),
    comm: cString(ctx, CTX.comm),
    parent_comm: cString(ctx, CTX.parent_comm),
  };
}

/**
 * Reads one record: `bytes` holds exactly the record (a ring buffer sample),
 * or with `exact` false a record followed by unused room (a struct
 * dmrec_agg's `first`). Lengths are checked, never trusted.
 */
export function decodeRawEvent(bytes: Uint8Array, exact = true): RawEvent {
  if (bytes.length < EVENT_FIXED) {
    throw new EventLayoutError(`ring buffer record of ${bytes.length} bytes, shorter than its ${EVENT_FIXED}-byte fixed part`);
  }
  const v = viewOf(bytes);
  const entryLen = v.getUint16(EV.name_entry_len.offset, true);
  const exitLen = v.getUint16(EV.name_exit_len.offset, true);
  const kernelLen = v.getUint16(EV.name_kernel_len.offset, true);
  const cgroupLen = v.getUint16(EV.cgroup_name_len.offset, true);
  const pathLen = v.getUint16(EV.exe.offset + EXE.path_len.offset, true);
  const parentPathLen = v.getUint16(EV.parent_exe.offset + EXE.path_len.offset, true);
  const argvLen = v.getUint16(EV.argv_len.offset, true);
  const ttyLen = v.getUint16(EV.tty_len.offset, true);
  const lengths = [entryLen, exitLen, kernelLen, cgroupLen, pathLen, parentPathLen, argvLen, ttyLen];
  const want = EVENT_FIXED + lengths.reduce((a, b) => a + b, 0);
  if (
    entryLen >= DMREC_NAME_BUF ||
    exitLen >= DMREC_NAME_BUF ||
    kernelLen >= DMREC_KNAME_LEN ||
    cgroupLen >= DMREC_CGROUP_NAME_LEN ||
    pathLen >= DMREC_PATH_BUF ||
    parentPathLen >= DMREC_PATH_BUF ||
    argvLen >= DMREC_ARGV_BUF ||
    ttyLen >= DMREC_TTY_LEN ||
    (exact ? bytes.length !== want : bytes.length < want)
  ) {
    throw new EventLayoutError(`ring buffer record of ${bytes.length} bytes, its lengths ${lengths.join("+")} say ${want}`);
  }
  const exitAt = EVENT_FIXED + entryLen;
  const kernelAt = exitAt + exitLen;
  const cgroupAt = kernelAt + kernelLen;
  const pathAt = cgroupAt + cgroupLen;

  return {
    boot_ns: v.getBigUint64(EV.boot_ns.offset, true),
    duration_ns: v.getBigUint64(EV.duration_ns.offset, true),
    name_ptr: v.getBigUint64(EV.name_ptr.offset, true),
    ret: v.getBigInt64(EV.ret.offset, true),
    flags: v.getUint32(EV.flags.offset, true),
    name_entry_err: v.getInt32(EV.name_entry_err.offset, true),
    name_exit_err: v.getInt32(EV.name_exit_err.offset, true),
    hook: v.getUint8(EV.hook.offset),
    freed: v.getUint8(EV.freed.offset) !== 0,
    ctx: bytes.subarray(EV.ctx.offset, EV.ctx.offset + EV.ctx.size),
    cgroup_name: bytes.subarray(cgroupAt, cgroupAt + cgroupLen),
    name_entry: bytes.subarray(EVENT_FIXED, exitAt),
    name_exit: bytes.subarray(exitAt, kernelAt),
    name_kernel: v.getUint8(EV.name_kernel_seen.offset) ? bytes.subarray(kernelAt, cgroupAt) : null,
    image_fixed: bytes.subarray(EV.exe.offset, EV.ctx.offset),
    image_tail: bytes.subarray(pathAt, want),
  };
}
