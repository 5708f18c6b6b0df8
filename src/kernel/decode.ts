// Turns the kernel's raw struct into the event users see: wall-clock time,
// errno and flag names, the name to show. Pure, so it is unit-tested directly.
import type { DmrecEvent, HookName } from "./event.ts";
import { HOOK_IDS, type RawEvent } from "./kernel/event_layout.ts";
import { containerIdFromCgroup } from "./container.ts";
import { hasCap } from "./kernel/privileges.ts";
import { errnoName, flagsNames, O_TRUNC } from "./names.ts";
import { toctouVerdict } from "./toctou.ts";

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

export function toEvent(raw: RawEvent, ctx: DecodeContext): DmrecEvent {
  const hook: HookName | undefined = HOOK_IDS[raw.hook as keyof typeof HOOK_IDS];
  if (!hook) throw new UnknownHookError(`unknown hook id ${raw.hook} in a kernel event`);
  const ret = Number(raw.ret);
  const entryOk = raw.name_entry_err === 0;
  const exitOk = raw.name_exit_err === 0;
  const name_entry = entryOk ? raw.name_entry : null;
  const name_exit = exitOk ? raw.name_exit : null;
  const name_kernel = raw.name_kernel;
  return {
    type: "event",
    ts_ns: raw.boot_ns + ctx.bootToWallNs,
    boot_ns: raw.boot_ns,
    duration_ns: raw.duration_ns,
    hook,
    pid: raw.pid,
    tid: raw.tid,
    ppid: raw.ppid,
    uid: raw.uid,
    gid: raw.gid,
    euid: raw.euid,
    loginuid: raw.loginuid,
    sessionid: raw.sessionid,
    comm: textOrBytes(raw.comm),
    parent_comm: textOrBytes(raw.parent_comm),
    exe: ctx.exeOf(raw.pid, raw.start_boottime),
    cgroup_id: raw.cgroup_id,
    container_id: containerIdFromCgroup(utf8Lossy.decode(raw.cgroup_name)),
    mntns: raw.mntns,
    pidns: raw.pidns,
    utsns: raw.utsns,
    cap_effective: raw.cap_effective,
    cap_sys_module: hasCap(raw.cap_effective, CAP_SYS_MODULE),
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
    freed: ctx.moduleFreeHooked ? raw.freed : null,
    forced: ret === 0 && (raw.flags & O_TRUNC) !== 0,
    ...toctouVerdict(name_entry, name_exit, name_kernel),
  };
}
