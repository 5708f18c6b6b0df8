// The Debian package's dmrec.service under a real systemd, on Debian's kernel with real
// module unloads: test/vm/systemd.sh boots systemd (this machine's, 252) in the x86_64 VM
// with the package's files, systemd_check.sh drives the unit, and what it kept is
// checked here. Needs root, QEMU, `make build deb`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireRoot } from "../support/recorder.ts";
import { runVm } from "./run_vm.ts";

requireRoot();

const out = mkdtempSync(join(tmpdir(), "dmrec-vm-systemd-"));
const pkg = mkdtempSync(join(tmpdir(), "dmrec-vm-pkg-"));
// `out` is kept, as the other VM suites keep theirs: failures point at its console.log.
afterAll(() => rmSync(pkg, { recursive: true, force: true }));

/** What the VM needs of systemd: its manager, journald, systemctl, journalctl, their libraries, the units, and find. */
function systemdFiles(): string[] {
  // GNU find for the unit's clean-up, in place of busybox's (no -delete).
  const bins = ["/lib/systemd/systemd", "/lib/systemd/systemd-journald", "/bin/systemctl", "/bin/journalctl", "/usr/bin/find"];
  const libs = new Set<string>();
  for (const b of bins) {
    const ldd = Bun.spawnSync(["ldd", b]).stdout.toString();
    for (const m of ldd.matchAll(/=> (\/\S+)/g)) libs.add(m[1]!);
  }
  const units = readdirSync("/lib/systemd/system").map((u) => `/lib/systemd/system/${u}`).filter((u) => statSync(u).isFile());
  return [...bins, ...libs, ...units].map((f) => `${f}:${f}`);
}

function units(): string[] {
  const dir = join(pkg, "units");
  mkdirSync(dir, { recursive: true });
  const target = join(dir, "dmrec-vm.target");
  writeFileSync(target, "[Unit]\nDescription=dmrec VM check\nRequires=systemd-journald.service dmrec-vm-check.service\nAfter=dmrec-vm-check.service\n");
  const check = join(dir, "dmrec-vm-check.service");
  writeFileSync(
    check,
    "[Unit]\nRequires=systemd-journald.service\nAfter=systemd-journald.service\n[Service]\nType=oneshot\nExecStart=/usr/local/bin/dmrec-vm-check\nStandardOutput=file:/out/check.log\nStandardError=inherit\n",
  );
  return [`${target}:/etc/systemd/system/dmrec-vm.target`, `${check}:/etc/systemd/system/dmrec-vm-check.service`, "test/vm/systemd_check.sh:/usr/local/bin/dmrec-vm-check"];
}

describe("dmrec.service under systemd, in the x86_64 VM", () => {
  beforeAll(() => {
    const deb = readdirSync("dist").find((f) => /^dmrec_.*_amd64\.deb$/.test(f));
    if (!deb) throw new Error("no dist/dmrec_*_amd64.deb: run make deb");
    const root = join(pkg, "root");
    if (Bun.spawnSync(["dpkg-deb", "-x", join("dist", deb), root]).exitCode !== 0) throw new Error(`dpkg-deb -x ${deb} failed`);
    const packaged = ["/usr/bin/dmrec", "/lib/systemd/system/dmrec.service", "/etc/default/dmrec"].map((f) => `${root}${f}:${f}`);
    runVm("test/vm/systemd.sh", out, { DMREC_VM_FILES: [...systemdFiles(), ...packaged, ...units()].join(" ") });
  }, 600_000);

  const file = (name: string) => readFileSync(join(out, name), "utf8");
  /** The files this start recorded; capture-2000* are planted by systemd_check.sh as an earlier start's. */
  const captures = () => readdirSync(join(out, "state")).filter((f) => f.endsWith(".cbor.zst") && !f.startsWith("capture-2000")).sort();

  const props = (name: string) => Object.fromEntries(file(name).trim().split("\n").map((l) => l.split("=", 2) as [string, string]));

  test("the unit ran, was stopped cleanly, and never restarted", () => {
    expect(props("show.txt")).toEqual({ ActiveState: "active", SubState: "running", NRestarts: "0" });
    expect(props("stopped.txt")).toEqual({ ActiveState: "inactive", Result: "success" });
  });

  test("the recorder holds CAP_BPF and CAP_PERFMON only, with no new privileges and a syscall filter", () => {
    const caps = Object.fromEntries(file("caps.txt").trim().split("\n").map((l) => l.split(/:\s+/) as [string, string]));
    const want = ((1n << 38n) | (1n << 39n)).toString(16).padStart(16, "0");
    expect(caps).toEqual({ CapPrm: want, CapEff: want, CapBnd: want, NoNewPrivs: "1", Seccomp: "2" });
  });

  /** doctor --json as the unit's sandbox ran it (the journal's text around it aside). */
  const doctor = (name: string) => {
    const t = file(name);
    return JSON.parse(t.slice(t.indexOf("{"), t.lastIndexOf("}") + 1)) as {
      record_hook: string;
      hooks: Record<string, { attached: boolean; attach_error?: string }>;
      find_module: { attached: boolean };
    };
  };

  test("in the unit's sandbox, Debian's perf_event_paranoid 3 leaves raw-syscalls only; at 2, the kprobe hook and find_module", () => {
    expect(file("paranoid.txt").trim()).toBe("3");
    const strict = doctor("doctor-paranoid3.json");
    expect(strict.record_hook).toBe("raw-syscalls");
    expect(strict.hooks.kprobe!.attach_error).toContain("perf event: Permission denied");
    const usual = doctor("doctor-paranoid2.json");
    expect(usual.record_hook).toBe("kprobe");
    expect(usual.find_module.attached).toBe(true);
  });

  test("the journal has the key's fingerprint and each file's first key; the hook is the kprobe", () => {
    const journal = file("journal.txt");
    const fingerprint = /[0-9a-f]{64}/.exec(journal.split("\n").find((l) => /fingerprint/.test(l)) ?? "")?.[0];
    expect(fingerprint).toBeDefined();
    expect(journal).toMatch(/first key of \/var\/lib\/dmrec\/capture-\d{8}T\d{6}Z\.cbor\.zst: [0-9a-f]{64}/);
    const info = JSON.parse(Bun.spawnSync(["dist/dmrec", "info", "--json", join(out, "state", captures()[0]!)]).stdout.toString())[0];
    expect(info.header.hook).toBe("kprobe");
  });

  test("state: a private directory, the key pair, and two files of one set (reload rotated)", () => {
    expect(file("state.ls")).toMatch(/^drwx------ .* \.$/m);
    expect(readdirSync(join(out, "state")).filter((f) => f.startsWith("sign")).sort()).toEqual(["sign.key", "sign.pub"]);
    expect(captures().length).toBe(2);
  });

  test("the start deleted an earlier start's capture not written for 40 days, named it in the journal, and kept a recent one", () => {
    const state = readdirSync(join(out, "state"));
    expect(state).not.toContain("capture-20000101T000000Z.cbor.zst");
    expect(state).toContain("capture-20000102T000000Z.cbor.zst");
    expect(file("journal.txt").split("\n")).toContain("/var/lib/dmrec/capture-20000101T000000Z.cbor.zst");
  });

  test("the set verifies against the service's key and holds the real unload of dummy", () => {
    const files = captures().map((f) => join(out, "state", f));
    const v = Bun.spawnSync(["dist/dmrec", "verify", "--pubkey", join(out, "state", "sign.pub"), ...files]);
    expect(v.stderr.toString()).toBe("");
    expect(v.exitCode).toBe(0);
    const q = Bun.spawnSync(["dist/dmrec", "query", ...files, "--module", "dummy", "--format", "jsonl"]);
    const events = q.stdout.toString().trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.some((e) => e.ret === 0 && e.comm === "rmmod" && e.hook === "kprobe")).toBe(true);
  });
});
