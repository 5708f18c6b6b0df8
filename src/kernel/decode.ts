// Turns what the kernel side wrote (ring records, aggregate map entries) into
// the items users see: wall-clock time, errno and flag names, the name to
// show, the TOCTOU verdict. It runs once per event at up to hundreds of
// thousands per second, so what a flood repeats is decoded once: the process
// context (compared byte for byte with the last one) and the flag names.
import { bytesEqual } from "../bytes.ts";
import { type AggregateRecord, type DmrecEvent, type HookName, NO_IMAGE, type ProcessImage } from "../event.ts";
import { containerIdFromCgroup } from "../container.ts";
import { errnoName, flagsNames, O_TRUNC } from "../names.ts";
import { toctouVerdict } from "../toctou.ts";
import { ARGV_FLAGS, decodeContext, decodeImage, EXE_FLAGS, HOOK_IDS, type RawEvent, type RawExe } from "./layout.ts";
import { hasCap } from "./privileges.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Text when the bytes are valid UTF-8, else a copy of the bytes themselves: nothing is lost. */
export function textOrBytes(bytes: Uint8Array): string | Uint8Array {
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes.slice();
  }
}

export class UnknownHookError extends Error {}

const CAP_SYS_MODULE = 16n;
const CLOCK_STEPS_KEPT = 16;
const FLAG_CACHE = 64;
const utf8Lossy = new TextDecoder();

export interface DecodeContext {
  /** the boot-to-wall offset when recording started (clockStepped() gives later ones) */
  bootToWallNs: bigint;
  /** module:module_free was attached; without it, whether a call freed a module is unknown (null) */
  moduleFreeHooked: boolean;
}

/**
 * The executable's path as /proc/PID/exe shows it (the kernel's d_path): the names the
 * kernel walked leaf first, put back in order, " (deleted)" after an unlinked file's,
 * "(unreachable)" before one outside the task's root, and "(truncated)" before one whose
 * walk stopped short of the root. Null for a task without an executable.
 */
export function exePath(exe: RawExe): string | null {
  if (exe.flags & EXE_FLAGS.none) return null;
  const names = utf8Lossy.decode(exe.path).split("/");
  names.pop();
  let path = `/${names.reverse().join("/")}`;
  if (exe.flags & EXE_FLAGS.truncated) path = `(truncated)${path}`;
  else if (exe.flags & EXE_FLAGS.unreachable) path = `(unreachable)${path}`;
  if (exe.flags & EXE_FLAGS.deleted) path += " (deleted)";
  return path;
}

/** How many calls, and the boot-clock span of their entries. */
export interface CallSpan {
  count: number;
  firstBootNs: bigint;
  lastBootNs: bigint;
}

/** What the task ran, its executable's path included. */
type Image = ProcessImage & Pick<DmrecEvent, "exe">;

/** The identity fields events and aggregates share. */
type Identity = Pick<
  DmrecEvent,
  | "pid" | "tid" | "ppid" | "uid" | "gid" | "euid" | "loginuid" | "sessionid" | "comm" | "parent_comm"
  | "cgroup_id" | "container_id" | "mntns" | "pidns" | "utsns" | "cap_effective" | "cap_sys_module"
>;

function hookName(id: number): HookName {
  const hook: HookName | undefined = HOOK_IDS[id as keyof typeof HOOK_IDS];
  if (!hook) throw new UnknownHookError(`unknown hook id ${id} in a kernel record`);
  return hook;
}

/** `b` when it holds the same bytes as `a` (already a copy), else a copy of `b`. */
function copyUnlessSame(b: Uint8Array, a: Uint8Array | null): Uint8Array {
  return a !== null && bytesEqual(a, b) ? a : b.slice();
}

export class EventDecoder {
  private lastCtx: Uint8Array | null = null;
  private lastCgroup: Uint8Array | null = null;
  private lastIdentity: Identity | null = null;
  private lastImage: Image | null = null;
  private lastImageFixed: Uint8Array | null = null;
  private lastImageTail: Uint8Array | null = null;
  private readonly flags = new Map<number, string[]>();

  /** The boot-to-wall offsets in force, oldest first: each from a boot time on. */
  private readonly offsets: { fromBootNs: bigint; offsetNs: bigint }[];

  constructor(private readonly ctx: DecodeContext) {
    this.offsets = [{ fromBootNs: -(2n ** 63n), offsetNs: ctx.bootToWallNs }];
  }

  /** The wall clock stepped: calls that entered from boot time `fromBootNs` on take `offsetNs`. */
  clockStepped(fromBootNs: bigint, offsetNs: bigint): void {
    this.offsets.push({ fromBootNs, offsetNs });
    // Records come at most a few ring buffers late: the last few steps are enough.
    if (this.offsets.length > CLOCK_STEPS_KEPT) this.offsets.shift();
  }

  private wallNs(bootNs: bigint): bigint {
    const o = this.offsets;
    let i = o.length - 1;
    while (i > 0 && bootNs < o[i]!.fromBootNs) i--;
    return bootNs + o[i]!.offsetNs;
  }

  /** A ring record as an event. */
  event(raw: RawEvent): DmrecEvent {
    const entryOk = raw.name_entry_err === 0;
    const exitOk = raw.name_exit_err === 0;
    const name_entry = entryOk ? raw.name_entry.slice() : null;
    const name_exit = exitOk ? copyUnlessSame(raw.name_exit, name_entry) : null;
    const name_kernel = raw.name_kernel && copyUnlessSame(raw.name_kernel, name_entry ?? name_exit);
    const ret = Number(raw.ret);
    const id = this.identity(raw.ctx, raw.cgroup_name);
    const img = this.image(raw);
    const verdict = toctouVerdict(name_entry, name_exit, name_kernel);
    return {
      type: "event",
      ts_ns: this.wallNs(raw.boot_ns),
      boot_ns: raw.boot_ns,
      duration_ns: raw.duration_ns,
      hook: hookName(raw.hook),
      pid: id.pid,
      tid: id.tid,
      ppid: id.ppid,
      uid: id.uid,
      gid: id.gid,
      euid: id.euid,
      loginuid: id.loginuid,
      sessionid: id.sessionid,
      comm: id.comm,
      parent_comm: id.parent_comm,
      exe: img.exe,
      cgroup_id: id.cgroup_id,
      container_id: id.container_id,
      mntns: id.mntns,
      pidns: id.pidns,
      utsns: id.utsns,
      cap_effective: id.cap_effective,
      cap_sys_module: id.cap_sys_module,
      name_ptr: raw.name_ptr,
      name_entry,
      name_entry_err: entryOk ? null : raw.name_entry_err,
      name_exit,
      name_exit_err: exitOk ? null : raw.name_exit_err,
      name_kernel,
      name: name_kernel ?? name_entry ?? name_exit,
      flags: raw.flags,
      flags_names: this.flagNames(raw.flags),
      ret,
      errno: errnoName(ret),
      freed: this.ctx.moduleFreeHooked ? raw.freed : null,
      forced: ret === 0 && (raw.flags & O_TRUNC) !== 0,
      toctou: verdict.toctou,
      toctou_reason: verdict.toctou_reason,
      exe_inode: img.exe_inode,
      exe_dev: img.exe_dev,
      exe_deleted: img.exe_deleted,
      exe_truncated: img.exe_truncated,
      exe_unreachable: img.exe_unreachable,
      parent_exe: img.parent_exe,
      argv: img.argv,
      argv_err: img.argv_err,
      argv_truncated: img.argv_truncated,
      tty: img.tty,
    };
  }

  /** Calls of one key, with the first of them whole (struct dmrec_agg). */
  callAggregate(s: CallSpan, first: RawEvent): AggregateRecord {
    const { duration_ns: _d, freed: _f, forced: _x, type: _t, ts_ns: _ts, boot_ns: _b, ...call } = this.event(first);
    return { type: "aggregate", scope: "call", ...this.span(s), ...call };
  }

  /** Calls of one process and result, once the key map was full (struct dmrec_proc_agg). */
  processAggregate(s: CallSpan, hook: number, ctx: Uint8Array, cgroupName: Uint8Array, ret: number): AggregateRecord {
    return {
      type: "aggregate",
      scope: "process",
      ...this.span(s),
      hook: hookName(hook),
      ...this.identity(ctx, cgroupName),
      exe: null,
      ...noCall(),
      ret,
      errno: errnoName(ret),
      ...NO_IMAGE,
    };
  }

  /** Every other call, once even the process map was full. */
  overflowAggregate(s: CallSpan, hook: HookName): AggregateRecord {
    return {
      type: "aggregate",
      scope: "all",
      ...this.span(s),
      hook,
      pid: null,
      tid: null,
      ppid: null,
      uid: null,
      gid: null,
      euid: null,
      loginuid: null,
      sessionid: null,
      comm: null,
      parent_comm: null,
      exe: null,
      cgroup_id: null,
      container_id: null,
      mntns: null,
      pidns: null,
      utsns: null,
      cap_effective: null,
      cap_sys_module: null,
      ...noCall(),
      ret: null,
      errno: null,
      ...NO_IMAGE,
    };
  }

  private span(s: CallSpan) {
    return {
      count: s.count,
      ts_ns: this.wallNs(s.firstBootNs),
      last_ts_ns: this.wallNs(s.lastBootNs),
      boot_ns: s.firstBootNs,
      last_boot_ns: s.lastBootNs,
    };
  }

  /** The decoded context, the last one's again when the bytes are the same. */
  private identity(ctx: Uint8Array, cgroupName: Uint8Array): Identity {
    if (this.lastIdentity && bytesEqual(ctx, this.lastCtx!) && bytesEqual(cgroupName, this.lastCgroup!)) return this.lastIdentity;
    const c = decodeContext(ctx);
    const identity: Identity = {
      pid: c.pid,
      tid: c.tid,
      ppid: c.ppid,
      uid: c.uid,
      gid: c.gid,
      euid: c.euid,
      loginuid: c.loginuid,
      sessionid: c.sessionid,
      comm: textOrBytes(c.comm),
      parent_comm: textOrBytes(c.parent_comm),
      cgroup_id: c.cgroup_id,
      container_id: containerIdFromCgroup(utf8Lossy.decode(cgroupName)),
      mntns: c.mntns,
      pidns: c.pidns,
      utsns: c.utsns,
      cap_effective: c.cap_effective,
      cap_sys_module: hasCap(c.cap_effective, CAP_SYS_MODULE),
    };
    this.lastCtx = ctx.slice();
    this.lastCgroup = cgroupName.slice();
    this.lastIdentity = identity;
    return identity;
  }

  /** What the task ran, the last one's again when the kernel wrote the same bytes. */
  private image(raw: RawEvent): Image {
    if (this.lastImage && bytesEqual(raw.image_fixed, this.lastImageFixed!) && bytesEqual(raw.image_tail, this.lastImageTail!)) {
      return this.lastImage;
    }
    const r = decodeImage(raw.image_fixed, raw.image_tail);
    const exe = r.exe.flags & EXE_FLAGS.none ? null : r.exe;
    const argvNone = (r.argv_flags & ARGV_FLAGS.none) !== 0;
    const image: Image = {
      exe: exePath(r.exe),
      exe_inode: exe && exe.ino,
      exe_dev: exe && `${exe.dev >>> 20}:${exe.dev & 0xfffff}`,
      exe_deleted: exe && (exe.flags & EXE_FLAGS.deleted) !== 0,
      exe_truncated: exe && (exe.flags & EXE_FLAGS.truncated) !== 0,
      exe_unreachable: exe && (exe.flags & EXE_FLAGS.unreachable) !== 0,
      parent_exe: exePath(r.parent_exe),
      argv: argvNone || r.argv_err !== 0 ? null : splitArgs(r.argv),
      argv_err: argvNone || r.argv_err === 0 ? null : r.argv_err,
      argv_truncated: argvNone ? null : (r.argv_flags & ARGV_FLAGS.truncated) !== 0,
      tty: r.tty.length > 0 ? utf8Lossy.decode(r.tty) : null,
    };
    this.lastImageFixed = raw.image_fixed.slice();
    this.lastImageTail = raw.image_tail.slice();
    this.lastImage = image;
    return image;
  }

  /**
   * Shared between events with the same flags: nothing downstream changes an
   * item. Callers choose the flags, so the cache is bounded.
   */
  private flagNames(flags: number): string[] {
    let names = this.flags.get(flags);
    if (!names) {
      names = flagsNames(flags);
      if (this.flags.size >= FLAG_CACHE) this.flags.clear();
      this.flags.set(flags, names);
    }
    return names;
  }
}

/**
 * The arguments of an argument area as read: each ends with a NUL (an empty one is kept);
 * bytes after the last NUL are a last argument the read cut short. Copies.
 */
function splitArgs(area: Uint8Array): Uint8Array[] {
  const args: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < area.length; i++) {
    if (area[i] === 0) {
      args.push(area.slice(start, i));
      start = i + 1;
    }
  }
  if (start < area.length) args.push(area.slice(start));
  return args;
}

/** An aggregate's call fields where its scope keeps no call. */
const noCall = (): Pick<
  AggregateRecord,
  | "name_ptr" | "name_entry" | "name_entry_err" | "name_exit" | "name_exit_err" | "name_kernel" | "name"
  | "flags" | "flags_names" | "toctou" | "toctou_reason"
> => ({
  name_ptr: null,
  name_entry: null,
  name_entry_err: null,
  name_exit: null,
  name_exit_err: null,
  name_kernel: null,
  name: null,
  flags: null,
  flags_names: [],
  toctou: null,
  toctou_reason: [],
});
