// Real module unloads on a real Debian kernel (kprobes, syscall tracepoints,
// module_free), in a QEMU VM: test/vm/unload.sh runs every scenario under each
// hook there, and this file checks each capture, field by field, on the host
// with dist/dmrec. Needs root, QEMU and the Debian kernel package (vm.sh
// installs and caches them).
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureItems, query } from "../support/recorder.ts";
import { runVm } from "./run_vm.ts";

if (process.getuid?.() !== 0) throw new Error("the VM tests need root: run them as root, as CI does");

const O_NONBLOCK = 0o4000;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const HOOKS = ["kprobe", "tracepoint", "raw-syscalls", "auto"] as const;
type Ev = Record<string, unknown>;
interface Step {
  pid: number;
  status: number;
}

/** Boots the VM of `arch`, runs test/vm/unload.sh there and checks what it brought back. */
export function unloadSuite(arch: "x86_64" | "arm64"): void {
  describe(`in the ${arch} VM`, () => {
    const out = mkdtempSync(join(tmpdir(), `dmrec-vm-${arch}-`));

    beforeAll(() => {
      runVm("test/vm/unload.sh", out, { DMREC_VM_ARCH: arch });
    }, 600_000);

    function steps(hook: string): Record<string, Step> {
      const lines = readFileSync(join(out, `${hook}.steps`), "utf8").trim().split("\n");
      return Object.fromEntries(
        lines.map((l) => {
          const [name, pid, status] = l.split(" ");
          return [name!, { pid: Number(pid), status: Number(status) }];
        }),
      );
    }

    const header = (file: string): Ev => captureItems(file)[0]!;

    test("the wall clock stepped an hour while recording: a clock record, and the calls after it in the new time", () => {
      expect(readFileSync(join(out, "clock.status"), "utf8").trim()).toBe("0");
      const cap = join(out, "clock.cbor.zst");
      const s = steps("clock");
      const records = query(cap);
      const clock = records.filter((r) => r.type === "clock");
      expect(clock).toHaveLength(2);
      // In time order, the step back (an hour before the recording began) comes first.
      const [back, forward] = clock.map((c) => BigInt(c.step_ns as string)) as [bigint, bigint];
      expect(forward > 3_595_000_000_000n && forward < 3_605_000_000_000n).toBe(true);
      expect(back > -7_205_000_000_000n && back < -7_195_000_000_000n).toBe(true);
      const call = (step: string) => records.find((r) => r.pid === s[step]!.pid)!;
      const ts = (r: Ev) => BigInt(r.ts_ns as string);
      const boot = (r: Ev) => BigInt(r.boot_ns as string);
      // Apart by the boot clock, and by the step more by the wall clock.
      expect(ts(call("after")) - ts(call("before")) - (boot(call("after")) - boot(call("before")))).toBe(forward);
      expect(ts(call("back")) - ts(call("after")) - (boot(call("back")) - boot(call("after")))).toBe(back);
      const stepBoot = BigInt(clock[1]!.boot_ns as string);
      expect(boot(call("before")) < stepBoot && stepBoot <= boot(call("after"))).toBe(true);
      // Records come in time order: the call after the step back is listed first.
      expect(records.filter((r) => r.type === "event").map((r) => r.pid)).toEqual([s.back!.pid, s.before!.pid, s.after!.pid]);
      expect(readFileSync(join(out, "clock.info"), "utf8")).toContain("the wall clock stepped 2 times while recording");
      // --duration 8s ended it on time though the wall clock was set two hours back (it
      // started about 3 s before the last call; under emulation, give it some slack).
      expect(Number(readFileSync(join(out, "clock.waited"), "utf8"))).toBeLessThan(30);
      expect(Bun.spawnSync(["dist/dmrec", "verify", cap]).exitCode).toBe(0);
      console.log(`clock steps in the VM: ${forward} ns, then ${back} ns`);
    });

    test("doctor in the VM: every hook attaches, auto picks kprobe with module_free", () => {
      expect(readFileSync(join(out, "doctor.status"), "utf8").trim()).toBe("0");
      const report = JSON.parse(readFileSync(join(out, "doctor.json"), "utf8"));
      console.log(`VM kernel ${report.kernel}, libbpf ${report.libbpf.version}`);
      expect(report.kernel).toMatch(arch === "arm64" ? /^6\.1\.0-\d+-arm64$/ : /^6\.1\.0-\d+-amd64$/);
      expect(report.arch).toBe(arch === "arm64" ? "arm64" : "x86_64");
      for (const hook of ["kprobe", "tracepoint", "raw-syscalls"]) {
        expect(report.hooks[hook]).toMatchObject({ available: true, attached: true });
      }
      expect(report.module_free).toMatchObject({ available: true, attached: true });
      expect(report.find_module).toMatchObject({ available: true, attached: true });
      expect(report.record_hook).toBe("kprobe");
    });

    for (const hook of HOOKS) {
      describe(`--hook ${hook}`, () => {
        const used = hook === "auto" ? "kprobe" : hook;
        let cap: string;
        let s: Record<string, Step>;
        let byPid: (step: string) => Ev[];

        beforeAll(() => {
          cap = join(out, `${hook}.cbor.zst`);
          s = steps(hook);
          const all = query(cap);
          byPid = (step) => all.filter((e) => e.pid === s[step]!.pid);
        });

        test("the recorder attached the expected hook and stopped cleanly", () => {
          expect(readFileSync(join(out, `${hook}.status`), "utf8").trim()).toBe("0");
          expect(readFileSync(join(out, `${hook}.err`), "utf8")).toContain(`(hook ${used} + module_free + find_module)`);
          const h = header(cap);
          expect(h.hook).toBe(used);
          expect(h.module_free).toBe(true);
          expect(h.find_module).toBe(true);
          console.log(`--hook ${hook}: attached ${used} + module_free + find_module in the VM`);
        });

        test("rmmod dummy: ret 0, freed, the kernel's own name", () => {
          expect(s.unload!.status).toBe(0);
          const [ev, ...rest] = byPid("unload");
          expect(rest).toEqual([]);
          expect(ev).toMatchObject({
            hook: used, comm: "rmmod", uid: 0, euid: 0, name: "dummy", name_entry: "dummy", name_exit: "dummy",
            name_kernel: "dummy", flags: O_NONBLOCK | O_EXCL, ret: 0, errno: null, freed: true, forced: false,
            toctou: false, toctou_reason: [], cap_sys_module: true,
            exe: "/bin/busybox", // the binary behind the rmmod applet, read in the kernel at the call
          });
        });

        test("rmmod dummy again: ENOENT, nothing freed", () => {
          expect(s.missing!.status).not.toBe(0);
          expect(byPid("missing")).toEqual([
            // find_module's kprobe shows the kernel's copy of a name it did not find
            expect.objectContaining({ name: "dummy", ret: -2, errno: "ENOENT", freed: false, name_kernel: "dummy", forced: false, comm: "rmmod", uid: 0, toctou: false, exe: "/bin/busybox" }),
          ]);
        });

        test("rmmod blowfish_common while blowfish_generic uses it: EWOULDBLOCK (EAGAIN), nothing freed", () => {
          expect(byPid("busy")).toEqual([
            expect.objectContaining({ name: "blowfish_common", name_kernel: "blowfish_common", ret: -11, errno: "EAGAIN", freed: false, forced: false, comm: "rmmod", flags: O_NONBLOCK | O_EXCL }),
          ]);
        });

        test("query --result EWOULDBLOCK and --forced find exactly those calls", () => {
          expect(query(cap, "--result", "EWOULDBLOCK").map((e) => e.pid)).toEqual([s.busy!.pid]);
          expect(query(cap, "--forced").map((e) => e.pid)).toEqual([s.forced!.pid]);
        });

        test("the same removal by an unprivileged user: EPERM", () => {
          expect(byPid("eperm")).toEqual([
            // the capability check comes before the kernel copies the name: no kernel copy
            expect.objectContaining({
              name: "blowfish_common", name_kernel: null, ret: -1, errno: "EPERM", freed: false, uid: 65534, euid: 65534, gid: 65534,
              comm: "dm_call", flags: O_NONBLOCK, cap_sys_module: false, cap_effective: "0000000000000000", toctou: false,
            }),
          ]);
        });

        test("the clean-up removals succeed and free their modules", () => {
          for (const [step, name] of [["cleanup_generic", "blowfish_generic"], ["cleanup_common", "blowfish_common"]]) {
            expect(byPid(step!)).toEqual([expect.objectContaining({ name, name_kernel: name, ret: 0, freed: true })]);
          }
        });

        test("/sbin/rmmod -f dummy: O_TRUNC, ret 0, forced, freed; the binary behind the applet and the command line as typed", () => {
          const [ev, ...rest] = byPid("forced");
          expect(rest).toEqual([]);
          expect(ev).toMatchObject({
            name: "dummy", name_kernel: "dummy", ret: 0, forced: true, freed: true, comm: "rmmod", uid: 0, exe: "/bin/busybox",
            flags: O_NONBLOCK | O_EXCL | O_TRUNC, flags_names: ["O_EXCL", "O_TRUNC", "O_NONBLOCK"],
            argv: ["/sbin/rmmod", "-f", "dummy"], argv_err: null, argv_truncated: false,
            exe_deleted: false, exe_truncated: false, exe_unreachable: false, tty: null,
          });
          // stat's st_dev is the user-space encoding of major:minor.
          const [ino, dev] = readFileSync(join(out, "busybox.stat"), "utf8").trim().split(" ").map(Number) as [number, number];
          expect([ev!.exe_inode, ev!.exe_dev]).toEqual([String(ino), `${((dev >> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff)}:${(dev & 0xff) | ((dev >> 12) & ~0xff)}`]);
        });

        test("an argument area no one can read: argv null and the read's errno, never an empty command line", () => {
          expect(byPid("noargs")).toEqual([expect.objectContaining({ name: "nosuch", comm: "dm_call", argv: null, argv_err: -14, exe: "/bin/dm_call" })]);
        });

        test("a module whose init fails is freed without any unload event", () => {
          expect(s.initfail!.status).not.toBe(0);
          expect(byPid("initfail")).toEqual([]);
        });

        test("dm_call: exact pointer-read fields for a plain call", () => {
          expect(byPid("exact")).toEqual([
            expect.objectContaining({
              name_entry: "dummy", name_entry_err: null, name_exit: "dummy", name_exit_err: null, flags: 0, flags_names: [],
              ret: -2, errno: "ENOENT", comm: "dm_call", tid: s.exact!.pid, exe: "/bin/dm_call",
            }),
          ]);
        });

        test("process context: the scenario shell's namespaces and comm, no audit login", () => {
          const comm = readFileSync(join(out, "shell.comm"), "utf8").trim();
          const [mnt, pid, uts] = readFileSync(join(out, "shell.ns"), "utf8").trim().split("\n").map((l) => Number(/\[(\d+)\]/.exec(l)![1]));
          for (const step of ["unload", "missing", "busy", "forced", "exact"]) {
            expect(byPid(step)[0]).toMatchObject({
              parent_comm: comm, mntns: mnt, pidns: pid, utsns: uts, loginuid: 4294967295, sessionid: 4294967295,
              ppid: expect.any(Number), cgroup_id: expect.any(String), container_id: null,
            });
          }
        });

        test("every event belongs to a scenario step: nothing extra, nothing missing", () => {
          const pids = new Set(Object.entries(s).filter(([n]) => n !== "initfail").map(([, st]) => st.pid));
          const events = query(cap);
          expect(new Set(events.map((e) => e.pid))).toEqual(pids);
          expect(events.length).toBe(pids.size);
          expect(events.filter((e) => e.freed === true).length).toBe(4);
        });
      });
    }

    describe("real unloads in the middle of a flood (kprobe hook, default settings)", () => {
      const cap = join(out, "flood.cbor.zst");
      let s: Record<string, Step>;
      let flooders: { pid: number; calls: number; failed: number }[];
      let stats: { totals: { calls: number; events: number; aggregated: number; lost: number }; groups: { pid: number | null; calls: number }[] };

      beforeAll(() => {
        s = steps("flood");
        flooders = [1, 2, 3, 4].map((n) => JSON.parse(readFileSync(join(out, `flooder.${n}.json`), "utf8")));
        const r = Bun.spawnSync(["dist/dmrec", "stats", cap, "--json"]);
        if (r.exitCode !== 0) throw new Error(`dmrec stats failed: ${r.stderr.toString()}`);
        stats = JSON.parse(r.stdout.toString());
      });

      test("the recorder stopped cleanly", () => {
        expect(readFileSync(join(out, "flood.status"), "utf8").trim()).toBe("0");
        console.log(`flood in the VM: ${JSON.stringify(stats.totals)}`);
      });

      test("each of the five unloads is an individual event that freed dummy", () => {
        for (let round = 1; round <= 5; round++) {
          expect(s[`unload${round}`]!.status).toBe(0);
          const mine = query(cap, "--pid", String(s[`unload${round}`]!.pid));
          expect(mine).toEqual([expect.objectContaining({ type: "event", name: "dummy", name_kernel: "dummy", ret: 0, freed: true, comm: "rmmod" })]);
        }
      });

      test("every flood call is accounted for, exactly, and none lost", () => {
        expect(stats.totals.lost).toBe(0);
        for (const f of flooders) {
          expect(f.calls).toBe(60_000);
          expect(f.failed).toBe(60_000);
          expect(stats.groups.filter((g) => g.pid === f.pid).reduce((n, g) => n + g.calls, 0)).toBe(f.calls);
        }
        expect(stats.totals.calls).toBe(4 * 60_000 + 5);
        expect(stats.totals.aggregated).toBeGreaterThan(4 * 60_000 * 0.9);
      });

      test("the root floods fail with ENOENT, the unprivileged ones with EPERM", () => {
        const errnos = (pid: number) => new Set(query(cap, "--pid", String(pid)).map((r) => r.errno));
        expect(errnos(flooders[0]!.pid)).toEqual(new Set(["ENOENT"]));
        expect(errnos(flooders[2]!.pid)).toEqual(new Set(["EPERM"]));
      });
    });

    describe("TOCTOU in the VM (kprobe hook)", () => {
      let s: Record<string, Step>;
      let events: Ev[];
      const eventsOf = (step: string) => events.filter((e) => e.pid === s[step]!.pid);
      const ROUNDS = 8;

      beforeAll(() => {
        s = steps("race");
        events = query(join(out, "race.cbor.zst"));
      });

      test("the race recorder ran with the kprobe hook and stopped cleanly", () => {
        expect(readFileSync(join(out, "race.status"), "utf8").trim()).toBe("0");
        expect(header(join(out, "race.cbor.zst")).hook).toBe("kprobe");
      });

      test("a race between a loaded and a missing module: the kernel's own name decides, and disagreeing reads are flagged", () => {
        let successes = 0;
        let caught = 0;
        const rounds = Object.keys(s).filter((k) => k.startsWith("race")).length;
        expect(rounds).toBeGreaterThanOrEqual(ROUNDS);
        for (let round = 1; round <= rounds; round++) {
          const mine = eventsOf(`race${round}`);
          const ok = mine.filter((e) => e.ret === 0);
          expect(ok.length).toBe(1); // each round stops at the unload
          expect(ok[0]).toMatchObject({ freed: true, name_kernel: "dummy", name: "dummy" });
          for (const e of mine) {
            // the kernel copied something for every call (find_module or module_free)
            expect(e.name_kernel).not.toBeNull();
            const reads = [e.name_entry, e.name_exit];
            const expected = reads[0] !== reads[1] || reads.some((r) => r !== e.name_kernel);
            expect(e.toctou).toBe(expected);
          }
          successes++;
          if (ok[0]!.toctou === true) caught++;
        }
        console.log(`TOCTOU race in the VM: ${caught} of ${successes} real unloads were made while a read saw another name`);
        expect(caught).toBeGreaterThan(0);
        const fooled = events.find((e) => e.ret === 0 && e.toctou === true)!;
        expect([fooled.name_entry, fooled.name_exit]).not.toEqual(["dummy", "dummy"]);
        expect(fooled.name_kernel).toBe("dummy");
      });

      test("query --toctou returns exactly the flagged events", () => {
        expect(query(join(out, "race.cbor.zst"), "--toctou")).toEqual(events.filter((e) => e.toctou === true));
      });

      test("a name in a page not yet resident: the entry read fails, the exit read and the kernel see it", () => {
        expect(eventsOf("nonresident")).toEqual([
          expect.objectContaining({
            name_entry: null, name_entry_err: -14, name_exit: "dummy", name_exit_err: null, name_kernel: "dummy", name: "dummy",
            ret: 0, freed: true, toctou: null, toctou_reason: [],
          }),
        ]);
      });
    });
  });
}
