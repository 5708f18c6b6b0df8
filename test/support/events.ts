// Hand-built events for unit tests: a plausible successful `rmmod dummy`, with any field
// overridden; fields derived from others (name_*, flags_names, errno) follow the overrides.

import type { DmrecEvent } from "../../src/event.ts";
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
    ...over,
  };
}
