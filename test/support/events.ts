// Hand-built events for unit tests: a plausible successful `rmmod dummy`, with any field
// overridden; fields derived from others (name_*, flags_names, errno) follow the overrides.

import { type AggregateRecord, type ClockRecord, type DmrecEvent, NO_IMAGE } from "../../src/event.ts";
import { errnoName, flagsNames, O_EXCL, O_NONBLOCK } from "../../src/names.ts";

/** Bytes of a string whose characters are all below 256, so tests can write "\x80". */
export function latin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => {
    const code = c.charCodeAt(0);
    if (code > 0xff) throw new Error(`latin1: ${JSON.stringify(c)} is not one byte`);
    return code;
  });
}

export function makeEvent(over: Partial<DmrecEvent> = {}): DmrecEvent {
  const name = over.name !== undefined ? over.name : latin1("dummy");
  const flags = over.flags ?? (O_EXCL | O_NONBLOCK);
  const ret = over.ret ?? 0;
  return {
    type: "event",
    ts_ns: 1764118674123456789n,
    boot_ns: 5_000_000_123n,
    duration_ns: 41_234n,
    hook: "kprobe",
    pid: 4242,
    tid: 4243,
    ppid: 1000,
    uid: 0,
    gid: 0,
    euid: 0,
    loginuid: 1000,
    sessionid: 3,
    comm: "rmmod",
    parent_comm: "bash",
    exe: "/usr/bin/kmod",
    cgroup_id: 7n,
    container_id: null,
    mntns: 4026531841,
    pidns: 4026531836,
    utsns: 4026531838,
    cap_effective: 0x1ff_ffff_ffffn,
    cap_sys_module: true,
    name_ptr: 0x7ffc_1234_5678n,
    name_entry: name,
    name_entry_err: null,
    name_exit: name,
    name_exit_err: null,
    name_kernel: name,
    name,
    flags,
    flags_names: flagsNames(flags),
    ret,
    errno: errnoName(ret),
    freed: ret === 0,
    forced: false,
    toctou: false,
    toctou_reason: [],
    exe_inode: 131_842n,
    exe_dev: "254:1",
    exe_deleted: false,
    exe_truncated: false,
    exe_unreachable: false,
    parent_exe: "/usr/bin/bash",
    argv: [latin1("rmmod"), latin1("dummy")],
    argv_err: null,
    argv_truncated: false,
    tty: "pts0",
    ...over,
  };
}

/**
 * A plausible aggregate of scope "call": a flood of ENOENT calls for "nosuch"
 * from one unprivileged process, with any field overridden.
 */
export function makeAggregate(over: Partial<AggregateRecord> = {}): AggregateRecord {
  const name = over.name !== undefined ? over.name : latin1("nosuch");
  const flags = over.flags !== undefined ? over.flags : O_NONBLOCK;
  const ret = over.ret !== undefined ? over.ret : -2;
  return {
    type: "aggregate",
    scope: "call",
    count: 250_000,
    ts_ns: 1764118674200000000n,
    last_ts_ns: 1764118675100000000n,
    boot_ns: 5_200_000_000n,
    last_boot_ns: 6_100_000_000n,
    hook: "kprobe",
    pid: 5151,
    tid: 5151,
    ppid: 1000,
    uid: 65534,
    gid: 65534,
    euid: 65534,
    loginuid: 1000,
    sessionid: 3,
    comm: "flooder",
    parent_comm: "bash",
    exe: null,
    cgroup_id: 7n,
    container_id: null,
    mntns: 4026531841,
    pidns: 4026531836,
    utsns: 4026531838,
    cap_effective: 0n,
    cap_sys_module: false,
    name_ptr: 0x7ffc_1234_0000n,
    name_entry: name,
    name_entry_err: null,
    name_exit: name,
    name_exit_err: null,
    name_kernel: null,
    name,
    flags,
    flags_names: flags === null ? [] : flagsNames(flags),
    ret,
    errno: ret === null ? null : errnoName(ret),
    toctou: false,
    toctou_reason: [],
    ...NO_IMAGE,
    ...over,
  };
}

/** The wall clock stepped an hour forward, 1 s into the recording. */
export function makeClock(over: Partial<ClockRecord> = {}): ClockRecord {
  const old = 1_764_118_669_000_000_000n;
  return {
    type: "clock",
    ts_ns: 5_100_000_000n + old + 3_600_000_000_000n,
    boot_ns: 5_100_000_000n,
    prev_boot_ns: 5_000_000_000n,
    old_boot_to_wall_ns: old,
    boot_to_wall_ns: old + 3_600_000_000_000n,
    ...over,
  };
}

/** An aggregate of scope "process": the process and errno, no name or arguments. */
export function makeProcessAggregate(over: Partial<AggregateRecord> = {}): AggregateRecord {
  return makeAggregate({
    scope: "process", count: 40_000, name_ptr: null, name_entry: null, name_exit: null, name: null,
    flags: null, toctou: null, ...over,
  });
}

/** An aggregate of scope "all": nothing but the count, the span and the hook. */
export function makeOverflowAggregate(over: Partial<AggregateRecord> = {}): AggregateRecord {
  return makeAggregate({
    scope: "all", count: 7, pid: null, tid: null, ppid: null, uid: null, gid: null, euid: null, loginuid: null,
    sessionid: null, comm: null, parent_comm: null, cgroup_id: null, mntns: null, pidns: null, utsns: null,
    cap_effective: null, cap_sys_module: null, name_ptr: null, name_entry: null, name_exit: null, name: null,
    flags: null, ret: null, toctou: null, ...over,
  });
}
