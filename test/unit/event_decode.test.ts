// Ring-buffer bytes and aggregate map entries -> the items users see, with
// records built field by field from the same layout table the decoder uses
// (itself checked against the BTF).
import { describe, expect, test } from "bun:test";
import { EventDecoder, UnknownHookError, type DecodeContext } from "../../src/kernel/decode.ts";
import { ARGV_FLAGS, decodeRawEvent, EVENT_FIXED, EventLayoutError, EXE_FLAGS, STRUCTS } from "../../src/kernel/layout.ts";
import { flagsNames } from "../../src/names.ts";

const EV = STRUCTS.dmrec_event.fields;
const CTX = STRUCTS.dmrec_context.fields;
const EXE = STRUCTS.dmrec_exe.fields;
type Value = number | bigint | Uint8Array;
type Values = Partial<Record<keyof typeof EV | keyof typeof CTX, Value>> & {
  name_entry?: Uint8Array;
  name_exit?: Uint8Array;
  name_kernel?: Uint8Array;
  cgroup_name?: Uint8Array;
  /** struct dmrec_exe: by default a task without an executable */
  exe_ino?: bigint;
  exe_dev?: number;
  exe_flags?: number;
  exe_path?: Uint8Array;
  parent_exe_flags?: number;
  parent_exe_path?: Uint8Array;
  /** the argument area's bytes, and the terminal's name */
  argv?: Uint8Array;
  tty?: Uint8Array;
};

function put(v: DataView, bytes: Uint8Array, at: number, size: number, value: Value) {
  if (value instanceof Uint8Array) bytes.set(value, at);
  else if (size === 8) v.setBigUint64(at, BigInt.asUintN(64, BigInt(value)), true);
  else if (size === 4) v.setUint32(at, Number(value) >>> 0, true);
  else if (size === 2) v.setUint16(at, Number(value), true);
  else v.setUint8(at, Number(value));
}

/** A ring record: the fixed part (garbage where nothing is written), then the packed tail. */
function rawRecord(values: Values): Uint8Array {
  const none = new Uint8Array(0);
  const tail = [
    values.name_entry ?? none, values.name_exit ?? none, values.name_kernel ?? none, values.cgroup_name ?? none,
    values.exe_path ?? none, values.parent_exe_path ?? none, values.argv ?? none, values.tty ?? none,
  ];
  const lens = {
    name_entry_len: tail[0]!.length, name_exit_len: tail[1]!.length, name_kernel_len: tail[2]!.length, cgroup_name_len: tail[3]!.length,
    argv_len: tail[6]!.length, tty_len: tail[7]!.length,
  };
  const size = EVENT_FIXED + tail.reduce((n, t) => n + t.length, 0);
  const bytes = new Uint8Array(size).fill(0xaa);
  const v = new DataView(bytes.buffer);
  const defaults: Values = {
    hook: 3, freed: 0, name_kernel_seen: 0, pad: new Uint8Array(9), name_entry_err: 0, name_exit_err: 0,
    argv_err: 0, argv_flags: 0, pad2: new Uint8Array(7),
    cap_effective: 0n, start_boottime: 0n, loginuid: 0xffffffff, sessionid: 0xffffffff, mntns: 0, pidns: 0, utsns: 0,
    comm: new Uint8Array(16), parent_comm: new Uint8Array(16),
  };
  const all = { ...defaults, ...lens, ...values } as Record<string, Value>;
  for (const [name, value] of Object.entries(all)) {
    if (name in EV) {
      const f = EV[name as keyof typeof EV];
      if (name !== "ctx" && name !== "tail" && name !== "exe" && name !== "parent_exe") put(v, bytes, f.offset, f.size, value);
    } else if (name in CTX) {
      const f = CTX[name as keyof typeof CTX];
      put(v, bytes, EV.ctx.offset + f.offset, f.size, value);
    }
  }
  const exe = (at: number, f: keyof typeof EXE, value: Value) => put(v, bytes, at + EXE[f].offset, EXE[f].size, value);
  exe(EV.exe.offset, "ino", values.exe_ino ?? 0n);
  exe(EV.exe.offset, "dev", values.exe_dev ?? 0);
  exe(EV.exe.offset, "flags", values.exe_flags ?? EXE_FLAGS.none);
  exe(EV.exe.offset, "path_len", tail[4]!.length);
  exe(EV.parent_exe.offset, "flags", values.parent_exe_flags ?? EXE_FLAGS.none);
  exe(EV.parent_exe.offset, "path_len", tail[5]!.length);
  let at = EVENT_FIXED;
  for (const t of tail) {
    bytes.set(t, at);
    at += t.length;
  }
  return bytes;
}

const ctx = (moduleFreeHooked = true, bootToWallNs = 0n): DecodeContext => ({ bootToWallNs, moduleFreeHooked });
/** A record as an event, by a fresh decoder. */
const toEvent = (raw: ReturnType<typeof decodeRawEvent>, c: DecodeContext) => new EventDecoder(c).event(raw);
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
      cgroup_name: ascii(`docker-${"ab".repeat(32)}.scope`),
      comm: padded(ascii("rmmod"), 16), name_entry: ascii("dummy"), name_exit: ascii("dummy"),
      exe_ino: 1234n, exe_dev: (8 << 20) | 1, exe_flags: 0, exe_path: ascii("kmod/bin/usr/"),
      parent_exe_flags: EXE_FLAGS.deleted, parent_exe_path: ascii("bash/bin/"),
      argv: ascii("rmmod\0-f\0\0dummy\0"), tty: ascii("pts/3"),
    });
    const ev = toEvent(decodeRawEvent(raw), ctx(false, 1_764_000_000_000_000_000n));
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
      exe_inode: 1234n, exe_dev: "8:1", exe_deleted: false, exe_truncated: false, exe_unreachable: false,
      parent_exe: "/bin/bash (deleted)",
      argv: [ascii("rmmod"), ascii("-f"), ascii(""), ascii("dummy")], argv_err: null, argv_truncated: false,
      tty: "pts/3",
    });
  });

  test("the argument area: cut short, unreadable, or none at all", () => {
    const ev = (values: Values) => toEvent(decodeRawEvent(rawRecord(values)), ctx());
    expect(ev({ argv: ascii("a\0bc"), argv_flags: ARGV_FLAGS.truncated })).toMatchObject({ argv: [ascii("a"), ascii("bc")], argv_truncated: true, argv_err: null });
    expect(ev({ argv_err: -14 })).toMatchObject({ argv: null, argv_err: -14, argv_truncated: false });
    expect(ev({ argv_flags: ARGV_FLAGS.none })).toMatchObject({ argv: null, argv_err: null, argv_truncated: null, tty: null });
    expect(ev({})).toMatchObject({ argv: [], exe: null, exe_inode: null, exe_dev: null, exe_deleted: null, parent_exe: null });
  });

  test("a successful unload seen by module_free: freed, and the kernel's copy is the name shown", () => {
    const raw = rawRecord({
      ret: 0n, freed: 1, name_kernel_seen: 1, name_kernel: ascii("dummy"), name_entry: ascii("dummx"), name_exit: ascii("dummx"),
    });
    const ev = toEvent(decodeRawEvent(raw), ctx());
    expect(ev.freed).toBe(true);
    expect(ev.name_kernel).toEqual(ascii("dummy"));
    expect(ev.name).toEqual(ascii("dummy"));
  });

  test("the TOCTOU verdict is computed from the three copies of the name", () => {
    const raw = rawRecord({
      name_entry: ascii("dummy"), name_exit: ascii("evil"), name_kernel_seen: 1, name_kernel: ascii("evil"),
    });
    const ev = toEvent(decodeRawEvent(raw), ctx());
    expect(ev.toctou).toBe(true);
    expect(ev.toctou_reason).toEqual(["entry!=exit", "entry!=kernel"]);
    expect(ev.name).toEqual(ascii("evil"));
  });

  test("no CAP_SYS_MODULE, no cgroup container id", () => {
    const ev = toEvent(decodeRawEvent(rawRecord({ cap_effective: 0x1ff_fffe_ffffn, cgroup_name: ascii("user.slice") })), ctx());
    expect(ev.cap_sys_module).toBe(false);
    expect(ev.container_id).toBeNull();
    expect(ev.loginuid).toBe(0xffffffff);
  });

  test("without the module_free hook, freed is unknown (null), not false", () => {
    const ev = toEvent(decodeRawEvent(rawRecord({ ret: 0n })), ctx(false));
    expect(ev.freed).toBeNull();
    expect(ev.name_kernel).toBeNull();
  });

  test("a kernel copy of 55 bytes, the most the kernel keeps, is read whole", () => {
    const raw = rawRecord({ name_kernel_seen: 1, name_kernel: ascii("k".repeat(55)) });
    expect(toEvent(decodeRawEvent(raw), ctx()).name_kernel).toEqual(ascii("k".repeat(55)));
  });

  test("the tail's parts are told apart by their lengths", () => {
    const raw = rawRecord({
      name_entry: ascii("a"), name_exit: ascii("bb"), name_kernel_seen: 1, name_kernel: ascii("ccc"), cgroup_name: ascii("dddd"),
    });
    const r = decodeRawEvent(raw);
    expect([r.name_entry, r.name_exit, r.name_kernel, r.cgroup_name]).toEqual([ascii("a"), ascii("bb"), ascii("ccc"), ascii("dddd")]);
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
    const ev = toEvent(decodeRawEvent(rawRecord({ name_entry_err: -14, name_exit: ascii("late") })), ctx());
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
    const ev = toEvent(decodeRawEvent(rawRecord({ name_entry: name, comm: padded(comm, 16) })), ctx());
    expect(ev.name_entry).toEqual(name);
    expect(ev.comm).toEqual(comm);
  });

  test("a 16-byte comm without NUL and a 127-byte name are read to the end", () => {
    const comm = ascii("abcdefghijklmnop");
    const long = ascii("x".repeat(127));
    const ev = toEvent(decodeRawEvent(rawRecord({ comm, name_entry: long })), ctx());
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

  test("a record shorter than its fixed part, or than its lengths say, is refused", () => {
    expect(() => decodeRawEvent(new Uint8Array(EVENT_FIXED - 8))).toThrow(EventLayoutError);
    const raw = rawRecord({ name_entry: ascii("dummy") });
    expect(() => decodeRawEvent(raw.subarray(0, raw.length - 1))).toThrow(EventLayoutError);
    // an aggregate's first call sits in room for the longest record: longer is fine there
    const roomy = new Uint8Array(STRUCTS.dmrec_event.size);
    roomy.set(raw);
    expect(() => decodeRawEvent(roomy)).toThrow(EventLayoutError);
    expect(decodeRawEvent(roomy, false).name_entry).toEqual(ascii("dummy"));
  });

  test("a length beyond its buffer is refused, not trusted", () => {
    const raw = rawRecord({ name_entry: ascii("x") });
    new DataView(raw.buffer).setUint16(EV.name_entry_len.offset, 60000, true);
    expect(() => decodeRawEvent(raw, false)).toThrow(EventLayoutError);
  });
});

describe("the wall clock stepping", () => {
  test("calls that entered from the step's sample on take the new offset, the others keep theirs, in any order", () => {
    const d = new EventDecoder(ctx(true, 1_000_000_000_000n));
    const at = (boot_ns: bigint) => d.event(decodeRawEvent(rawRecord({ boot_ns }))).ts_ns;
    expect(at(10n)).toBe(1_000_000_000_010n);
    d.clockStepped(100n, 5_000_000_000_000n);
    d.clockStepped(200n, 2_000_000_000_000n);
    expect([at(99n), at(100n), at(150n), at(200n), at(50n), at(300n)]).toEqual([
      1_000_000_000_099n, 5_000_000_000_100n, 5_000_000_000_150n, 2_000_000_000_200n, 1_000_000_000_050n, 2_000_000_000_300n,
    ]);
    const agg = d.callAggregate({ count: 3, firstBootNs: 150n, lastBootNs: 250n }, decodeRawEvent(rawRecord({ ret: -2n })));
    expect([agg.ts_ns, agg.last_ts_ns]).toEqual([5_000_000_000_150n, 2_000_000_000_250n]);
  });
});

describe("what a flood repeats is decoded once, and never mixed up", () => {
  test("the same context gives the same identity; one changed byte gives a new one", () => {
    const d = new EventDecoder(ctx());
    const exe = { exe_flags: 0, exe_path: ascii("p/bin/") };
    const a = d.event(decodeRawEvent(rawRecord({ pid: 10, comm: padded(ascii("one"), 16), ...exe })));
    const b = d.event(decodeRawEvent(rawRecord({ pid: 10, comm: padded(ascii("one"), 16), ...exe })));
    const c = d.event(decodeRawEvent(rawRecord({ pid: 10, comm: padded(ascii("onf"), 16), ...exe })));
    const e = d.event(decodeRawEvent(rawRecord({ pid: 10, comm: padded(ascii("onf"), 16), cgroup_name: ascii("other.scope"), ...exe })));
    const f = d.event(decodeRawEvent(rawRecord({ pid: 10, comm: padded(ascii("onf"), 16), cgroup_name: ascii("other.scope"), exe_flags: 0, exe_path: ascii("q/bin/") })));
    const g = d.event(decodeRawEvent(rawRecord({ pid: 10, comm: padded(ascii("onf"), 16), cgroup_name: ascii("other.scope"), exe_flags: EXE_FLAGS.deleted, exe_path: ascii("q/bin/") })));
    expect([a.comm, b.comm, c.comm, e.comm]).toEqual(["one", "one", "onf", "onf"]);
    expect([a.exe, e.exe, f.exe, g.exe]).toEqual(["/bin/p", "/bin/p", "/bin/q", "/bin/q (deleted)"]);
  });

  test("the executable's path: put back in order, marked as the kernel's d_path marks it, or null", () => {
    const exe = (exe_flags: number, path: string) => toEvent(decodeRawEvent(rawRecord({ exe_flags, exe_path: ascii(path) })), ctx()).exe;
    expect(exe(0, "kmod/bin/usr/")).toBe("/usr/bin/kmod");
    expect(exe(EXE_FLAGS.deleted, "helper/tmp/")).toBe("/tmp/helper (deleted)");
    expect(exe(EXE_FLAGS.unreachable, "helper/")).toBe("(unreachable)/helper");
    expect(exe(EXE_FLAGS.truncated | EXE_FLAGS.deleted, "x/y/")).toBe("(truncated)/y/x (deleted)");
    expect(exe(EXE_FLAGS.none, "")).toBeNull();
  });

  test("the bytes an event keeps are its own: the record's buffer can be reused", () => {
    const raw = rawRecord({ name_entry: ascii("first"), name_exit: ascii("first"), comm: padded(Uint8Array.of(0xff, 0x41), 16) });
    const ev = new EventDecoder(ctx()).event(decodeRawEvent(raw));
    raw.fill(0x5a);
    expect(ev.name_entry).toEqual(ascii("first"));
    expect(ev.name_exit).toEqual(ascii("first"));
    expect(ev.comm).toEqual(Uint8Array.of(0xff, 0x41));
  });

  test("flag names stay right when callers vary the flags endlessly", () => {
    const d = new EventDecoder(ctx());
    for (let flags = 0; flags < 300; flags++) {
      expect(d.event(decodeRawEvent(rawRecord({ flags: flags << 12 }))).flags_names).toEqual(flagsNames(flags << 12));
    }
  });
});

describe("aggregates", () => {
  const span = { count: 250_000, firstBootNs: 5_000n, lastBootNs: 9_000n };
  const first = decodeRawEvent(
    rawRecord({
      ret: -1n, pid: 77, tid: 78, uid: 65534, euid: 65534, gid: 65534, flags: 0o4000, name_ptr: 0x1000n,
      comm: padded(ascii("flooder"), 16), name_entry: ascii("nosuch"), name_exit: ascii("nosuch"),
    }),
  );

  test("scope call: the count, the span in wall time, and the first call's context and names", () => {
    const a = new EventDecoder(ctx(true, 1_000_000n)).callAggregate(span, first);
    expect(a).toMatchObject({
      type: "aggregate", scope: "call", count: 250_000, ts_ns: 1_005_000n, last_ts_ns: 1_009_000n, boot_ns: 5_000n, last_boot_ns: 9_000n,
      hook: "raw-syscalls", pid: 77, tid: 78, uid: 65534, comm: "flooder", name: ascii("nosuch"), name_entry_err: null,
      flags: 0o4000, flags_names: ["O_NONBLOCK"], ret: -1, errno: "EPERM", toctou: false, toctou_reason: [], cap_sys_module: false,
    });
    expect("freed" in a || "forced" in a || "duration_ns" in a).toBe(false);
  });

  test("scope process: who, and the result, but no name", () => {
    const a = new EventDecoder(ctx()).processAggregate(span, 1, first.ctx, new Uint8Array(0), -2);
    expect(a).toMatchObject({ scope: "process", hook: "kprobe", pid: 77, comm: "flooder", ret: -2, errno: "ENOENT", name: null, flags: null, flags_names: [], toctou: null, exe: null, argv: null, parent_exe: null, tty: null });
  });

  test("scope all: only the count, the span and the hook", () => {
    const a = new EventDecoder(ctx()).overflowAggregate(span, "kprobe");
    expect(a).toMatchObject({ scope: "all", count: 250_000, hook: "kprobe", pid: null, comm: null, ret: null, errno: null, name: null });
  });

  test("an unknown hook id is refused", () => {
    expect(() => new EventDecoder(ctx()).processAggregate(span, 9, first.ctx, new Uint8Array(0), -2)).toThrow(UnknownHookError);
  });
});
