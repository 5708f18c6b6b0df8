// Ring-buffer bytes -> DmrecEvent, with records built field by field from the
// same layout table the decoder uses (itself checked against the BTF).
import { describe, expect, test } from "bun:test";
import { toEvent, UnknownHookError } from "../../src/event_decode.ts";
import { decodeRawEvent, EVENT_FIELDS, EVENT_SIZE, EventLayoutError } from "../../src/kernel/event_layout.ts";

type Field = keyof typeof EVENT_FIELDS;

function rawRecord(values: Partial<Record<Field, number | bigint | Uint8Array>>): Uint8Array {
  const bytes = new Uint8Array(EVENT_SIZE).fill(0xaa); // garbage where nothing is written
  const v = new DataView(bytes.buffer);
  const defaults: Partial<Record<Field, number | bigint | Uint8Array>> = {
    hook: 3, freed: 0, name_kernel_seen: 0, pad: new Uint8Array(1), pad2: new Uint8Array(2), pad3: 0,
    parent_comm: new Uint8Array(16), cgroup_name: new Uint8Array(128), cap_effective: 0n, start_boottime: 0n,
    loginuid: 0xffffffff, sessionid: 0xffffffff, mntns: 0, pidns: 0, utsns: 0,
    comm: new Uint8Array(16), name_entry_err: 0, name_exit_err: 0, name_entry_len: 0, name_exit_len: 0,
  };
  for (const [name, value] of Object.entries({ ...defaults, ...values }) as [Field, number | bigint | Uint8Array][]) {
    const f = EVENT_FIELDS[name];
    if (value instanceof Uint8Array) bytes.set(value, f.offset);
    else if (f.size === 8) v.setBigUint64(f.offset, BigInt.asUintN(64, BigInt(value)), true);
    else if (f.size === 4) v.setUint32(f.offset, Number(value) >>> 0, true);
    else if (f.size === 2) v.setUint16(f.offset, Number(value), true);
    else v.setUint8(f.offset, Number(value));
  }
  return bytes;
}

const ctx = (moduleFreeHooked = true, bootToWallNs = 0n) => ({ bootToWallNs, moduleFreeHooked, exeOf: () => null });
const ascii = (s: string) => new TextEncoder().encode(s);
const padded = (b: Uint8Array, n: number) => {
  const out = new Uint8Array(n);
  out.set(b);
  return out;
};

describe("decodeRawEvent + toEvent", () => {
  test("a failed call with both reads ok", () => {
    const raw = rawRecord({
      boot_ns: 5_000_000_123n, duration_ns: 4200n, name_ptr: 0x7ffd_1234_5678n, cgroup_id: 0xffff_ffff_ffff_fff0n,
      ret: -2n, pid: 100, tid: 101, ppid: 1, uid: 1000, gid: 1001, euid: 0, flags: 0o4000 | 0o200,
      loginuid: 1000, sessionid: 7, mntns: 4026531841, pidns: 4026531836, utsns: 4026531838,
      cap_effective: 0x1ff_ffff_ffffn, start_boottime: 123_000_000n,
      parent_comm: padded(ascii("bash"), 16),
      cgroup_name: padded(ascii(`docker-${"ab".repeat(32)}.scope`), 128),
      comm: padded(ascii("rmmod"), 16), name_entry: ascii("dummy"), name_entry_len: 5,
      name_exit: ascii("dummy"), name_exit_len: 5,
    });
    const exeCalls: [number, bigint][] = [];
    const exeOf = (pid: number, start: bigint) => {
      exeCalls.push([pid, start]);
      return "/usr/bin/kmod";
    };
    const ev = toEvent(decodeRawEvent(raw), { ...ctx(false, 1_764_000_000_000_000_000n), exeOf });
    expect(exeCalls).toEqual([[100, 123_000_000n]]);
    expect(ev).toEqual({
      type: "event",
      ts_ns: 1_764_000_005_000_000_123n,
      boot_ns: 5_000_000_123n,
      duration_ns: 4200n,
      hook: "raw-syscalls",
      pid: 100, tid: 101, ppid: 1, uid: 1000, gid: 1001, euid: 0, loginuid: 1000, sessionid: 7,
      comm: "rmmod",
      parent_comm: "bash",
      exe: "/usr/bin/kmod",
      cgroup_id: 0xffff_ffff_ffff_fff0n,
      container_id: "ab".repeat(32),
      mntns: 4026531841, pidns: 4026531836, utsns: 4026531838,
      cap_effective: 0x1ff_ffff_ffffn,
      cap_sys_module: true,
      name_ptr: 0x7ffd_1234_5678n,
      name_entry: ascii("dummy"), name_entry_err: null,
      name_exit: ascii("dummy"), name_exit_err: null,
      name_kernel: null,
      name: ascii("dummy"),
      flags: 0o4200,
      flags_names: ["O_EXCL", "O_NONBLOCK"],
      ret: -2,
      errno: "ENOENT",
      freed: null,
      forced: false,
      toctou: false,
      toctou_reason: [],
    });
  });

  test("a successful unload seen by module_free: freed, and the kernel's copy is the name shown", () => {
    const raw = rawRecord({
      ret: 0n, freed: 1, name_kernel_seen: 1, name_kernel: ascii("dummy"), name_kernel_len: 5,
      name_entry: ascii("dummx"), name_entry_len: 5, name_exit: ascii("dummx"), name_exit_len: 5,
    });
    const ev = toEvent(decodeRawEvent(raw), ctx());
    expect(ev.freed).toBe(true);
    expect(ev.name_kernel).toEqual(ascii("dummy"));
    expect(ev.name).toEqual(ascii("dummy"));
  });

  test("the TOCTOU verdict is computed from the three copies of the name", () => {
    const raw = rawRecord({
      name_entry: ascii("dummy"), name_entry_len: 5, name_exit: ascii("evil"), name_exit_len: 4,
      name_kernel_seen: 1, name_kernel: ascii("evil"), name_kernel_len: 4,
    });
    const ev = toEvent(decodeRawEvent(raw), ctx());
    expect(ev.toctou).toBe(true);
    expect(ev.toctou_reason).toEqual(["entry!=exit", "entry!=kernel"]);
    expect(ev.name).toEqual(ascii("evil"));
  });

  test("no CAP_SYS_MODULE, no cgroup container id", () => {
    const ev = toEvent(decodeRawEvent(rawRecord({ cap_effective: 0x1ff_fffe_ffffn, cgroup_name: padded(ascii("user.slice"), 128) })), ctx());
    expect(ev.cap_sys_module).toBe(false);
    expect(ev.container_id).toBeNull();
    expect(ev.loginuid).toBe(0xffffffff);
  });

  test("without the module_free hook, freed is unknown (null), not false", () => {
    const ev = toEvent(decodeRawEvent(rawRecord({ ret: 0n })), ctx(false));
    expect(ev.freed).toBeNull();
    expect(ev.name_kernel).toBeNull();
  });

  test("a kernel name length beyond its buffer is clamped to 55 bytes", () => {
    const raw = rawRecord({ name_kernel_seen: 1, name_kernel: ascii("k".repeat(56)), name_kernel_len: 999 });
    expect(toEvent(decodeRawEvent(raw), ctx()).name_kernel).toEqual(ascii("k".repeat(55)));
  });

  test("failed reads are errors, never empty names", () => {
    const ev = toEvent(decodeRawEvent(rawRecord({ ret: -14n, name_entry_err: -14, name_exit_err: -14 })), ctx());
    expect(ev.name_entry).toBeNull();
    expect(ev.name_entry_err).toBe(-14);
    expect(ev.name_exit).toBeNull();
    expect(ev.name_exit_err).toBe(-14);
    expect(ev.name).toBeNull();
  });

  test("entry read failed, exit read ok: the name shown is the exit read", () => {
    const ev = toEvent(decodeRawEvent(rawRecord({ name_entry_err: -14, name_exit: ascii("late"), name_exit_len: 4 })), ctx());
    expect(ev.name).toEqual(ascii("late"));
    expect(ev.name_entry).toBeNull();
  });

  test("an empty name read successfully is an empty byte string", () => {
    const ev = toEvent(decodeRawEvent(rawRecord({})), ctx());
    expect(ev.name_entry).toEqual(new Uint8Array(0));
    expect(ev.name_entry_err).toBeNull();
  });

  test("non-UTF-8 bytes are kept exactly; a non-UTF-8 comm stays bytes", () => {
    const name = Uint8Array.of(0x66, 0x80, 0xff, 0x00 + 0x41);
    const comm = Uint8Array.of(0xc3, 0x28, 0x61);
    const ev = toEvent(decodeRawEvent(rawRecord({ name_entry: name, name_entry_len: 4, comm: padded(comm, 16) })), ctx());
    expect(ev.name_entry).toEqual(name);
    expect(ev.comm).toEqual(comm);
  });

  test("a 16-byte comm without NUL and a 127-byte name are read to the end", () => {
    const comm = ascii("abcdefghijklmnop");
    const long = ascii("x".repeat(127));
    const ev = toEvent(decodeRawEvent(rawRecord({ comm, name_entry: long, name_entry_len: 127 })), ctx());
    expect(ev.comm).toBe("abcdefghijklmnop");
    expect(ev.name_entry).toEqual(long);
  });

  test("a forced unload that succeeded", () => {
    const ev = toEvent(decodeRawEvent(rawRecord({ ret: 0n, flags: 0o1000 | 0o4000 })), ctx());
    expect(ev.forced).toBe(true);
    expect(ev.errno).toBeNull();
    expect(ev.flags_names).toEqual(["O_TRUNC", "O_NONBLOCK"]);
  });

  test("O_TRUNC on a failed call is not forced; unknown flag bits stay visible", () => {
    const ev = toEvent(decodeRawEvent(rawRecord({ ret: -11n, flags: 0o1000 | 0x80000000 })), ctx());
    expect(ev.forced).toBe(false);
    expect(ev.errno).toBe("EAGAIN");
    expect(ev.flags_names).toEqual(["O_TRUNC", "0x80000000"]);
  });

  test("each hook id", () => {
    expect(toEvent(decodeRawEvent(rawRecord({ hook: 1 })), ctx()).hook).toBe("kprobe");
    expect(toEvent(decodeRawEvent(rawRecord({ hook: 2 })), ctx()).hook).toBe("tracepoint");
    expect(() => toEvent(decodeRawEvent(rawRecord({ hook: 9 })), ctx())).toThrow(UnknownHookError);
  });

  test("a record of the wrong size is refused", () => {
    expect(() => decodeRawEvent(new Uint8Array(EVENT_SIZE - 8))).toThrow(EventLayoutError);
  });

  test("a length field beyond the buffer is clamped, not trusted", () => {
    const ev = toEvent(decodeRawEvent(rawRecord({ name_entry_len: 60000 })), ctx());
    expect(ev.name_entry!.length).toBe(127);
  });
});
