// Turns what the kernel side wrote (ring records, aggregate map entries) into
// the items users see: wall-clock time, errno and flag names, the name to
// show, the TOCTOU verdict. Pure, so it is unit-tested directly.
import type { AggregateRecord, DmrecEvent, HookName } from "../event.ts";
import { containerIdFromCgroup } from "../container.ts";
import { errnoName, flagsNames, O_TRUNC } from "../names.ts";
import { toctouVerdict } from "../toctou.ts";
import { HOOK_IDS, type RawContext, type RawEvent } from "./layout.ts";
import { hasCap } from "./privileges.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Text when the bytes are valid UTF-8, else the bytes themselves: nothing is lost. */
export function textOrBytes(bytes: Uint8Array): string | Uint8Array {
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes;
  }
}

export class UnknownHookError extends Error {}

const CAP_SYS_MODULE = 16n;
const utf8Lossy = new TextDecoder();

export interface DecodeContext {
  bootToWallNs: bigint;
  /** module:module_free was attached; without it, whether a call freed a module is unknown (null) */
  moduleFreeHooked: boolean;
  /** the executable of a process, if it still runs: see kernel/procfs.ts */
  exeOf: (pid: number, startBoottimeNs: bigint) => string | null;
}

function hookName(id: number): HookName {
  const hook: HookName | undefined = HOOK_IDS[id as keyof typeof HOOK_IDS];
  if (!hook) throw new UnknownHookError(`unknown hook id ${id} in a kernel record`);
  return hook;
}

/** The identity fields events and aggregates share. */
function identity(c: RawContext, ctx: DecodeContext) {
  return {
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
    exe: ctx.exeOf(c.pid, c.start_boottime),
    cgroup_id: c.cgroup_id,
    container_id: containerIdFromCgroup(utf8Lossy.decode(c.cgroup_name)),
    mntns: c.mntns,
    pidns: c.pidns,
    utsns: c.utsns,
    cap_effective: c.cap_effective,
    cap_sys_module: hasCap(c.cap_effective, CAP_SYS_MODULE),
  };
}

/** The arguments, the name reads and the verdict on them. */
function call(raw: RawEvent) {
  const entryOk = raw.name_entry_err === 0;
  const exitOk = raw.name_exit_err === 0;
  const name_entry = entryOk ? raw.name_entry : null;
  const name_exit = exitOk ? raw.name_exit : null;
  const name_kernel = raw.name_kernel;
  const ret = Number(raw.ret);
  return {
    name_ptr: raw.name_ptr,
    name_entry,
    name_entry_err: entryOk ? null : raw.name_entry_err,
    name_exit,
    name_exit_err: exitOk ? null : raw.name_exit_err,
    name_kernel,
    name: name_kernel ?? name_entry ?? name_exit,
    flags: raw.flags,
    flags_names: flagsNames(raw.flags),
    ret,
    errno: errnoName(ret),
    ...toctouVerdict(name_entry, name_exit, name_kernel),
  };
}

export function toEvent(raw: RawEvent, ctx: DecodeContext): DmrecEvent {
  const c = call(raw);
  return {
    type: "event",
    ts_ns: raw.boot_ns + ctx.bootToWallNs,
    boot_ns: raw.boot_ns,
    duration_ns: raw.duration_ns,
    hook: hookName(raw.hook),
    ...identity(raw.ctx, ctx),
    ...c,
    freed: ctx.moduleFreeHooked ? raw.freed : null,
    forced: c.ret === 0 && (raw.flags & O_TRUNC) !== 0,
  };
}

/** How many calls, and the boot-clock span of their entries. */
export interface CallSpan {
  count: number;
  firstBootNs: bigint;
  lastBootNs: bigint;
}

function span(s: CallSpan, ctx: DecodeContext) {
  return {
    count: s.count,
    ts_ns: s.firstBootNs + ctx.bootToWallNs,
    last_ts_ns: s.lastBootNs + ctx.bootToWallNs,
    boot_ns: s.firstBootNs,
    last_boot_ns: s.lastBootNs,
  };
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

/** Calls of one key, with the first of them whole (struct dmrec_agg). */
export function toCallAggregate(s: CallSpan, first: RawEvent, ctx: DecodeContext): AggregateRecord {
  return { type: "aggregate", scope: "call", ...span(s, ctx), hook: hookName(first.hook), ...identity(first.ctx, ctx), ...call(first) };
}

/** Calls of one process and result, once the key map was full (struct dmrec_proc_agg). */
export function toProcessAggregate(s: CallSpan, hook: number, c: RawContext, ret: number, ctx: DecodeContext): AggregateRecord {
  return {
    type: "aggregate",
    scope: "process",
    ...span(s, ctx),
    hook: hookName(hook),
    ...identity(c, ctx),
    ...noCall(),
    ret,
    errno: errnoName(ret),
  };
}

/** Every other call, once even the process map was full. */
export function toOverflowAggregate(s: CallSpan, hook: HookName, ctx: DecodeContext): AggregateRecord {
  return {
    type: "aggregate",
    scope: "all",
    ...span(s, ctx),
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
  };
}
