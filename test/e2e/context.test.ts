// Process context on real events, each field checked against ground truth
// that the test sets up and that dm_call reads about itself from /proc: a
// known audit loginuid and session, private namespaces, a container-like
// cgroup, reduced capabilities, an unprivileged user; the executable as the
// kernel knew it at the call, for processes gone before the recorder could
// look (deleted, chroot'd, beyond the path's bound).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ascii, DM_CALL, hex, query, requireRoot, runJson, startRecorder } from "../support/recorder.ts";

requireRoot();

interface Truth {
  pid: number;
  uid: number;
  ppid: number;
  parent_comm: string;
  loginuid: number;
  sessionid: number;
  mntns: number;
  pidns: number;
  utsns: number;
  cap_effective: string;
  exe: string;
  cgroup: string;
  /** what the helper read of itself: /proc/self/cmdline in hex, ttyname(0) or "", /proc/PPID/exe */
  cmdline_hex: string;
  tty: string;
  parent_exe: string;
}

/** The arguments of a /proc/PID/cmdline, each in hex: what argv_hex must be. */
function argsHex(cmdlineHex: string): string[] {
  const area = Buffer.from(cmdlineHex, "hex");
  const args: string[] = [];
  let start = 0;
  for (let i = 0; i < area.length; i++) {
    if (area[i] === 0) {
      args.push(area.subarray(start, i).toString("hex"));
      start = i + 1;
    }
  }
  if (start < area.length) args.push(area.subarray(start).toString("hex"));
  return args;
}

const DM_CALL_PATH = join(process.cwd(), DM_CALL);
const CONTAINER_ID = "c0ffee00".repeat(8);

function cgroup2Root(): string {
  const line = readFileSync("/proc/mounts", "utf8").split("\n").find((l) => l.split(" ")[2] === "cgroup2");
  if (!line) throw new Error("no cgroup2 mount on this machine: the cgroup test needs one");
  return line.split(" ")[1]!;
}

const cgroupDir = join(cgroup2Root(), `dmrec-test-docker-${CONTAINER_ID}.scope`);
const call = (name: string, prefix: string[] = [], dmArgs: string[] = []) =>
  runJson<Truth>([...prefix, DM_CALL_PATH, ...dmArgs, hex(ascii(name)), "0"])[0]!;

let truth: Record<string, Truth>;
let events: Record<string, Record<string, unknown>>;
let dir: string;
const scratch = mkdtempSync(join(tmpdir(), "dmrec-ctx-"));

/** dm_call copied to `path` (made with its directories), run from there. */
function copyOfHelper(path: string, from = DM_CALL_PATH): string {
  mkdirSync(join(path, ".."), { recursive: true });
  copyFileSync(from, path);
  return path;
}

beforeAll(async () => {
  mkdirSync(cgroupDir, { recursive: true });
  // A root of its own for a chroot: the static helper and a /proc for it to read itself in.
  const root = join(scratch, "root");
  copyOfHelper(join(root, "bin", "dm_call"), join(process.cwd(), "build/dm_call-static"));
  mkdirSync(join(root, "proc"));
  // 5 directories of 60 characters: past the 255 bytes kept of a path.
  const deep = join(scratch, ...["d", "e", "f", "g", "h"].map((c) => c.repeat(60)), "dm_call");
  const rec = await startRecorder();
  dir = rec.dir;
  const helper = (path: string, name: string, prefix: string[] = [], dmArgs: string[] = []) =>
    runJson<Truth>([...prefix, path, ...dmArgs, hex(ascii(name)), "0"])[0]!;
  truth = {
    // No lingering: the process is gone before the recorder sees the event.
    plain: call("ctx_plain"),
    login: call("ctx_login", ["sh", "-c", `echo 4242 > /proc/self/loginuid && exec "$0" "$@"`]),
    ns: call("ctx_ns", ["unshare", "--mount", "--uts", "--pid", "--fork", "--mount-proc"]),
    cgroup: call("ctx_cgroup", ["sh", "-c", `echo $$ > ${cgroupDir}/cgroup.procs && exec "$0" "$@"`]),
    nocap: call("ctx_nocap", ["setpriv", "--inh-caps=-sys_module,-sys_admin", "--bounding-set=-sys_module,-sys_admin"]),
    nobody: call("ctx_nobody", [], ["--uid", "65534"]),
    deleted: helper(copyOfHelper(join(scratch, "gone", "dm_call")), "ctx_deleted", [], ["--unlink-self"]),
    chroot: helper("/bin/dm_call", "ctx_chroot", ["unshare", "--mount", "--fork", "sh", "-c", `mount -t proc proc ${root}/proc && exec chroot ${root} "$0" "$@"`]),
    deep: helper(copyOfHelper(deep), "ctx_deep"),
    // Names that look like the marks: only the flags tell them apart.
    lookalike: helper(copyOfHelper(join(scratch, "(truncated)", "dm_call (deleted)")), "ctx_lookalike"),
    // Under a terminal of its own: script(1) gives it a pty.
    tty: JSON.parse(
      Bun.spawnSync(["script", "-qec", `${DM_CALL_PATH} ${hex(ascii("ctx_tty"))} 0`, "/dev/null"]).stdout.toString().trim().split("\n").at(-1)!.trim(),
    ) as Truth,
  };
  const stopped = await rec.stop();
  if (stopped.exitCode !== 0) throw new Error(`recorder failed: ${stopped.stderr}`);
  events = {};
  for (const name of Object.keys(truth)) {
    const found = query(rec.capture, "--module", `ctx_${name}`);
    if (found.length !== 1) throw new Error(`expected one event for ctx_${name}, got ${found.length}`);
    events[name] = found[0]!;
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
  rmdirSync(cgroupDir);
});

describe("process context against ground truth", () => {
  test("a plain call: ids, parent, namespaces, capabilities, cgroup, exe", () => {
    const [t, ev] = [truth.plain!, events.plain!];
    expect(ev).toMatchObject({
      pid: t.pid, ppid: t.ppid, parent_comm: t.parent_comm, uid: 0, euid: 0,
      loginuid: t.loginuid, sessionid: t.sessionid, mntns: t.mntns, pidns: t.pidns, utsns: t.utsns,
      cap_effective: t.cap_effective, container_id: null, exe: t.exe,
    });
    expect(ev.cap_sys_module).toBe(((BigInt(`0x${t.cap_effective}`) >> 16n) & 1n) === 1n);
  });

  test("a known audit loginuid and its new session", () => {
    const [t, ev] = [truth.login!, events.login!];
    expect(t.loginuid).toBe(4242);
    expect(t.sessionid).not.toBe(4294967295);
    expect(ev).toMatchObject({ loginuid: 4242, sessionid: t.sessionid });
    expect(ev.sessionid).not.toBe(events.plain!.sessionid);
  });

  test("private mount, uts and pid namespaces", () => {
    const [t, ev] = [truth.ns!, events.ns!];
    expect(t.pid).toBe(1); // inside its own pid namespace
    expect(ev.pid).not.toBe(1); // the event carries the pid as the host sees it
    expect(ev).toMatchObject({ mntns: t.mntns, pidns: t.pidns, utsns: t.utsns });
    for (const ns of ["mntns", "pidns", "utsns"]) expect(ev[ns]).not.toBe(events.plain![ns]);
  });

  test("a container-like cgroup: its id, and the container id in its name", () => {
    const [t, ev] = [truth.cgroup!, events.cgroup!];
    expect(t.cgroup).toEndWith(`docker-${CONTAINER_ID}.scope`);
    expect(ev.cgroup_id).toBe(String(statSync(cgroupDir, { bigint: true }).ino));
    expect(ev.container_id).toBe(CONTAINER_ID);
    expect(events.plain!.cgroup_id).not.toBe(ev.cgroup_id);
  });

  test("root without CAP_SYS_MODULE", () => {
    const [t, ev] = [truth.nocap!, events.nocap!];
    expect(((BigInt(`0x${t.cap_effective}`) >> 16n) & 1n)).toBe(0n);
    expect(ev).toMatchObject({ uid: 0, cap_effective: t.cap_effective, cap_sys_module: false });
  });

  test("an unprivileged user has no capabilities at all", () => {
    const [t, ev] = [truth.nobody!, events.nobody!];
    expect(t.cap_effective).toBe("0000000000000000");
    expect(ev).toMatchObject({ uid: 65534, euid: 65534, gid: 65534, cap_effective: "0000000000000000", cap_sys_module: false });
  });

  test("exe is the path the process itself saw at /proc/self/exe, read in the kernel at the call", () => {
    for (const name of Object.keys(truth).filter((n) => n !== "deep")) expect([name, events[name]!.exe]).toEqual([name, truth[name]!.exe]);
  });

  test("a deleted executable is marked as /proc marks it", () => {
    expect(events.deleted!.exe).toBe(`${join(scratch, "gone", "dm_call")} (deleted)`);
  });

  test("in a chroot, the path within its root", () => {
    expect(events.chroot!.exe).toBe("/bin/dm_call");
    expect(events.chroot!.mntns).not.toBe(events.plain!.mntns);
  });

  test("the command line, the terminal and the parent's executable, as the process itself read them", () => {
    for (const name of Object.keys(truth).filter((n) => n !== "deep")) {
      const [t, ev] = [truth[name]!, events[name]!];
      expect([name, ev.argv_hex, ev.argv_err, ev.argv_truncated]).toEqual([name, argsHex(t.cmdline_hex), null, false]);
      // The kernel's name for the terminal, as auditd's tty= has it: /dev/pts/3 is pts3.
      expect([name, ev.tty]).toEqual([name, t.tty === "" ? null : t.tty.replace(/^\/dev\//, "").replace(/^pts\//, "pts")]);
      // The chroot'd helper cannot see its parent's executable outside its root, nor can the
      // one in a pid namespace of its own (getppid() is 0) or as nobody (root's /proc/PPID/exe).
      if (!["chroot", "ns", "nobody"].includes(name)) expect([name, ev.parent_exe]).toEqual([name, t.parent_exe]);
    }
    // The kernel can: the same parent as the plain call's.
    expect(truth.nobody!.parent_exe).toBe("");
    expect(events.nobody!.parent_exe).toBe(truth.plain!.parent_exe);
    // unshare(1) made a mount namespace for itself after it started: its executable's mount
    // is in the namespace it left, out of its own root's reach.
    expect(events.ns!.parent_exe).toBe("(unreachable)/usr/bin/unshare");
    expect(events.tty!.tty).toMatch(/^pts\d+$/);
    expect(events.plain!.argv).toEqual([DM_CALL_PATH, hex(ascii("ctx_plain")), "0"]);
  });

  test("a command line past the bound: its start, marked cut", () => {
    const [t, ev] = [truth.deep!, events.deep!];
    const area = Buffer.from(t.cmdline_hex, "hex");
    expect(area.length).toBeGreaterThan(255);
    expect(ev.argv_truncated).toBe(true);
    expect(ev.argv_hex).toEqual(argsHex(area.subarray(0, 255).toString("hex")));
  });

  test("the executable's inode and device are the file's", () => {
    const st = statSync(DM_CALL_PATH);
    const dev = `${Math.floor(st.dev / 256) & 0xfff | (Math.floor(st.dev / 2 ** 32) & ~0xfff)}:${(st.dev & 0xff) | ((st.dev >> 12) & ~0xff)}`;
    expect([events.plain!.exe_inode, events.plain!.exe_dev]).toEqual([String(st.ino), dev]);
    expect([events.plain!.exe_deleted, events.plain!.exe_truncated, events.plain!.exe_unreachable]).toEqual([false, false, false]);
    expect(events.deleted!.exe_deleted).toBe(true);
    expect(events.deep!.exe_truncated).toBe(true);
  });

  test("a file named like a mark is not taken for one: the flags say what is", () => {
    const ev = events.lookalike!;
    expect(ev.exe).toBe(join(scratch, "(truncated)", "dm_call (deleted)"));
    expect([ev.exe_deleted, ev.exe_truncated, ev.exe_unreachable]).toEqual([false, false, false]);
    expect([events.deleted!.exe_deleted, events.deleted!.exe_truncated]).toEqual([true, false]);
  });

  test("a path past the bound keeps its end, marked cut", () => {
    const exe = events.deep!.exe as string;
    expect(exe).toStartWith("(truncated)/");
    expect(truth.deep!.exe).toEndWith(exe.slice("(truncated)".length));
    expect(exe.length - "(truncated)".length).toBeLessThan(256);
    expect(exe).toEndWith(`/${"h".repeat(60)}/dm_call`);
  });
});
