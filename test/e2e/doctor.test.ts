// `dmrec doctor` and hook selection on this machine's kernel, which has
// raw tracepoints but no kprobes, no syscall tracepoints and no modules.
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const DMREC = "dist/dmrec";
if (process.getuid?.() !== 0) throw new Error("these tests need root: run them as root, as CI does");

function run(cmd: string[]) {
  const r = Bun.spawnSync(cmd);
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const kernelHasKprobes = () => run(["test", "-e", "/sys/bus/event_source/devices/kprobe"]).code === 0;

test("doctor tells the truth about each hook and picks raw-syscalls", () => {
  // Ground truth first, so the test fails loudly if it ever runs on another kind of kernel.
  expect(kernelHasKprobes()).toBe(false);
  expect(run(["test", "-e", "/proc/modules"]).code).not.toBe(0);
  const r = run([DMREC, "doctor", "--json"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const report = JSON.parse(r.stdout);
  expect(report.kernel).toBe(run(["uname", "-r"]).stdout.trim());
  expect(report.btf.available).toBe(true);
  expect(report.libbpf.version).toMatch(/^1\.\d+$/);
  expect(report.privileges.available).toBe(true);
  expect(report.hooks.kprobe).toMatchObject({ available: false, attached: false });
  expect(report.hooks.kprobe.why).toContain("no kprobes");
  expect(report.hooks.tracepoint).toMatchObject({ available: false, attached: false });
  expect(report.hooks["raw-syscalls"]).toMatchObject({ available: true, attached: true });
  expect(report.module_free).toMatchObject({ available: false });
  expect(report.module_free.why).toContain("CONFIG_MODULES");
  expect(report.record_hook).toBe("raw-syscalls");
  expect(report.problem).toBeNull();

  const textual = run([DMREC, "doctor"]);
  expect(textual.code).toBe(0);
  expect(textual.stdout).toMatch(/^record would use +raw-syscalls$/m);
});

test("doctor without privileges says recording is impossible and why", () => {
  const r = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", DMREC, "doctor"]);
  expect(r.code).toBe(6);
  expect(r.stdout).toMatch(/^record would use +nothing: record needs root/m);
  expect(r.stderr).toBe("dmrec: recording is not possible here: record needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN) to load its BPF programs; run it with sudo\n");
});

test("record --hook kprobe and --hook tracepoint fail here with the reason; auto records with raw-syscalls", () => {
  const dir = mkdtempSync(join(tmpdir(), "dmrec-hooks-"));
  try {
    for (const hook of ["kprobe", "tracepoint"]) {
      const out = join(dir, `${hook}.cbor.zst`);
      const r = run([DMREC, "record", "--hook", hook, "--out", out, "--duration", "1s"]);
      expect(r.code).toBe(7);
      expect(r.stderr).toStartWith(`dmrec: hook ${hook} cannot be used: ${hook}: `);
      expect(r.stderr.trimEnd().split("\n").length).toBe(1);
      expect(run(["test", "-e", out]).code).not.toBe(0); // no file left behind
    }
    const out = join(dir, "auto.cbor.zst");
    const r = run([DMREC, "record", "--out", out, "--duration", "1s"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("(hook raw-syscalls)");
    const header = run(["sh", "-c", `zstd -dc ${out} | head -c 4096`]);
    expect(header.code).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("doctor's kernel memory is what bpftool sees the recorder's maps hold", async () => {
  const report = JSON.parse(run([DMREC, "doctor", "--json"]).stdout);
  const maps = report.map_memory.maps as Record<string, number>;
  expect(report.map_memory.total).toBe(Object.values(maps).reduce((a, b) => a + b, 0));
  // The failing calls' ring is 8 MiB of data (bpf/dmrec.bpf.c), plus its pages' bookkeeping.
  expect(maps.events).toBeGreaterThanOrEqual(8 << 20);
  expect(run([DMREC, "doctor"]).stdout).toMatch(/^kernel memory +\d+\.\d MiB held by the BPF maps \(events 8\.\d MiB, /m);

  const dir = mkdtempSync(join(tmpdir(), "dmrec-doctor-"));
  const rec = Bun.spawn([DMREC, "record", "--out", join(dir, "c.cbor.zst")], { stderr: "pipe" });
  try {
    const reader = rec.stderr.getReader();
    for (let seen = ""; !seen.includes("recording to"); ) seen += new TextDecoder().decode((await reader.read()).value);
    // The recorder's maps: the map ids of its open file descriptors.
    const fds = readdirSync(`/proc/${rec.pid}/fdinfo`);
    const ids = new Set(fds.flatMap((fd) => /^map_id:\s+(\d+)$/m.exec(readFileSync(`/proc/${rec.pid}/fdinfo/${fd}`, "utf8"))?.[1] ?? []).map(Number));
    const shown = JSON.parse(run(["bpftool", "map", "show", "-j"]).stdout) as { id: number; name?: string; bytes_memlock: number }[];
    const mine = shown.filter((m) => ids.has(m.id));
    for (const name of ["events", "events_ok", "keys0", "procs1", "counters"]) {
      expect([name, mine.find((m) => m.name === name)?.bytes_memlock]).toEqual([name, maps[name]]);
    }
  } finally {
    rec.kill("SIGINT");
    await rec.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});
