// `make deb`: the Debian package as dpkg sees it, its files unpacked into a scratch root
// and run from there, and its systemd unit as systemd-analyze reads it: valid, hardened,
// and recording into /var/lib/dmrec with a key made at first start. Needs `make deb`
// (make test builds it).
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/captures.ts";
import { requireRoot } from "../support/recorder.ts";

requireRoot();

const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const deb = join(ROOT, `dist/dmrec_${version}_amd64.deb`);
const root = mkdtempSync(join(tmpdir(), "dmrec-deb-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function run(argv: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = Bun.spawnSync(argv, { env: { ...process.env, SYSTEMD_LOG_COLOR: "0" } });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}
if (!existsSync(deb)) throw new Error(`${deb} is not built: make deb`);
const unpacked = run(["dpkg-deb", "-x", deb, root]);
if (unpacked.code !== 0) throw new Error(`dpkg-deb -x failed: ${unpacked.stderr}`);
const unit = join(root, "lib/systemd/system/dmrec.service");

describe("dmrec_VERSION_amd64.deb", () => {
  test("dpkg-deb --info: name, version, architecture, what it needs, and its maintainer scripts", () => {
    const info = run(["dpkg-deb", "--info", deb]);
    expect(info.code).toBe(0);
    for (const field of ["Package: dmrec", `Version: ${version}`, "Architecture: amd64", "Depends: libc6 (>= 2.31), libbpf1 (>= 1:1.0)", "Section: admin"]) {
      expect(info.stdout).toContain(` ${field}\n`);
    }
    for (const script of ["postinst", "prerm", "postrm", "conffiles"]) expect(info.stdout).toMatch(new RegExp(`\\b${script}\\b`));
    expect(run(["dpkg-deb", "--field", deb, "Installed-Size"]).stdout.trim()).toMatch(/^\d{5,}$/);
    expect(run(["dpkg-deb", "--ctrl-tarfile", deb]).code).toBe(0);
  });

  test("dpkg-deb --contents: these files, root's, and no others", () => {
    const listing = run(["dpkg-deb", "--contents", deb]).stdout.trim().split("\n");
    const files = listing.filter((l) => l.startsWith("-")).map((l) => l.split(/\s+/));
    const byPath = new Map(files.map((f) => [f.at(-1)!.replace(/^\./, ""), f]));
    expect([...byPath.keys()].sort()).toEqual(
      [
        "/etc/default/dmrec",
        "/lib/systemd/system/dmrec.service",
        "/usr/bin/dmrec",
        "/usr/share/bash-completion/completions/dmrec",
        "/usr/share/doc/dmrec/copyright",
        "/usr/share/man/man1/dmrec.1.gz",
        "/usr/share/zsh/vendor-completions/_dmrec",
      ].sort(),
    );
    for (const [path, f] of byPath) {
      expect([path, f[1]]).toEqual([path, "root/root"]);
      expect([path, f[0]]).toEqual([path, path === "/usr/bin/dmrec" ? "-rwxr-xr-x" : "-rw-r--r--"]);
    }
    expect(run(["dpkg-deb", "--info", deb, "conffiles"]).stdout.trim()).toBe("/etc/default/dmrec");
  });

  test("unpacked into a scratch root: the executable runs from there and reads a capture; the man page and completions are its own", () => {
    const exe = join(root, "usr/bin/dmrec");
    expect(statSync(exe).mode & 0o777).toBe(0o755);
    expect(run([exe, "--version"]).stdout.trim()).toBe(version);
    const q = run([exe, "query", join(ROOT, "fixtures/small.cbor.zst"), "--count"]);
    expect([q.code, q.stderr]).toEqual([0, ""]);
    expect(Number(q.stdout)).toBeGreaterThan(0);
    const man = run(["sh", "-c", `gzip -dc ${join(root, "usr/share/man/man1/dmrec.1.gz")} | groff -man -Tutf8 -ww -z`]);
    expect([man.code, man.stderr]).toEqual([0, ""]);
    expect(readFileSync(join(root, "usr/share/bash-completion/completions/dmrec"), "utf8")).toContain("_dmrec_yargs_completions");
    expect(readFileSync(join(root, "usr/share/zsh/vendor-completions/_dmrec"), "utf8")).toContain("#compdef dmrec");
  });

  test("the maintainer scripts are valid sh, and none deletes the captures, not even a purge", () => {
    const control = mkdtempSync(join(tmpdir(), "dmrec-deb-control-"));
    try {
      expect(run(["dpkg-deb", "-e", deb, control]).code).toBe(0);
      for (const s of ["postinst", "prerm", "postrm"]) {
        const path = join(control, s);
        expect(statSync(path).mode & 0o777).toBe(0o755);
        expect(run(["sh", "-n", path]).code).toBe(0);
        expect(readFileSync(path, "utf8")).not.toMatch(/\brm\b/);
      }
    } finally {
      rmSync(control, { recursive: true, force: true });
    }
  });
});

describe("dmrec.service", () => {
  const text = () => readFileSync(unit, "utf8");

  test("systemd-analyze verify finds nothing wrong with it; a misspelt directive it does find", () => {
    // The root it is checked in: the package, the targets it is ordered after, and the
    // commands of ExecStartPre and ExecReload, which the package uses from the system.
    const check = mkdtempSync(join(tmpdir(), "dmrec-deb-verify-"));
    try {
      expect(run(["dpkg-deb", "-x", deb, check]).code).toBe(0);
      const units = join(check, "lib/systemd/system");
      expect(run(["sh", "-c", `cp /lib/systemd/system/*.target ${units}/ && mkdir -p ${check}/bin && cp /bin/sh /bin/kill ${check}/bin/`]).code).toBe(0);
      const verify = (file: string) => run(["systemd-analyze", "verify", `--root=${check}`, "--man=no", file]);
      expect(verify(join(units, "dmrec.service"))).toMatchObject({ code: 0, stderr: "" });
      const broken = join(units, "dmrec-broken.service");
      writeFileSync(broken, readFileSync(join(units, "dmrec.service"), "utf8").replace("ProtectSystem=strict", "ProtectSystm=strict"));
      expect(verify(broken).stderr).toContain("Unknown key 'ProtectSystm' in section [Service]");
    } finally {
      rmSync(check, { recursive: true, force: true });
    }
  });

  /**
   * An Exec line's shell script as sh gets it (systemd's $$ and %% undone), run in `state` for
   * /var/lib/dmrec. `prefix`: systemd's, such as "-" (a failure does not stop the start).
   */
  function execScript(directive: string, state: string, prefix = ""): string {
    const line = new RegExp(`\n${directive}=${prefix}/bin/sh -c '(.+)'\n`).exec(text());
    if (!line) throw new Error(`no ${directive}=${prefix}/bin/sh -c '...' in the unit`);
    return line[1]!.replaceAll("$$", "$").replaceAll("%%", "%").replaceAll("/usr/bin/dmrec", join(root, "usr/bin/dmrec")).replaceAll("/var/lib/dmrec", state);
  }

  test("as the unit starts it, twice: a key made once, and each start a signed set of its own that verifies", async () => {
    const state = mkdtempSync(join(tmpdir(), "dmrec-deb-state-"));
    try {
      const env = { ...process.env, DMREC_OPTIONS: "--duration 1s --rotate-every 1h --max-files 720" };
      for (const start of [1, 2]) {
        const pre = Bun.spawnSync(["sh", "-c", execScript("ExecStartPre", state)], { env });
        expect([start, pre.exitCode]).toEqual([start, 0]);
        if (start === 1) expect(pre.stderr.toString()).toMatch(/; fingerprint [0-9a-f]{64}\n$/);
        else expect(pre.stderr.toString()).toBe("");
        const rec = Bun.spawnSync(["sh", "-c", execScript("ExecStart", state)], { env });
        expect([start, rec.exitCode, rec.stderr.toString()]).toEqual([start, 0, expect.stringContaining("first key of")]);
        await Bun.sleep(1100);
      }
      const files = readdirSync(state).sort();
      expect(files.filter((f) => /^sign\.(key|pub)$/.test(f))).toEqual(["sign.key", "sign.pub"]);
      const captures = files.filter((f) => /^capture-\d{8}T\d{6}Z\.cbor\.zst$/.test(f));
      expect(captures.length).toBe(2);
      for (const c of captures) expect(run([join(root, "usr/bin/dmrec"), "verify", "--pubkey", join(state, "sign.pub"), join(state, c)]).code).toBe(0);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });

  test("at each start, captures of earlier starts not written for DMREC_KEEP_DAYS days go, named; nothing else does", () => {
    const state = mkdtempSync(join(tmpdir(), "dmrec-deb-prune-"));
    try {
      const day = 86_400_000;
      const files: [string, number][] = [
        ["capture-20260101T000000Z.cbor.zst", 40],
        ["capture-20260101T000000Z.000002.cbor.zst", 31.5],
        ["capture-20261101T000000Z.cbor.zst", 29],
        ["sign.key", 400],
        ["notes-old.cbor.zst", 400],
      ];
      for (const [name, age] of files) {
        writeFileSync(join(state, name), "x");
        const t = new Date(Date.now() - age * day);
        utimesSync(join(state, name), t, t);
      }
      // A directory and a symbolic link at a capture's name are not followed nor removed.
      mkdirSync(join(state, "capture-dir.cbor.zst"));
      symlinkSync("/etc/passwd", join(state, "capture-link.cbor.zst"));
      utimesSync(join(state, "capture-dir.cbor.zst"), new Date(0), new Date(0));
      const prune = (env: Record<string, string>) => Bun.spawnSync(["sh", "-c", execScript("ExecStartPre", state, "-")], { env: { ...process.env, ...env } });
      const r = prune({ DMREC_KEEP_DAYS: "30" });
      expect(r.exitCode).toBe(0);
      expect(r.stdout.toString().split("\n").filter(Boolean).sort()).toEqual([
        join(state, "capture-20260101T000000Z.000002.cbor.zst"),
        join(state, "capture-20260101T000000Z.cbor.zst"),
      ]);
      expect(readdirSync(state).sort()).toEqual(["capture-20261101T000000Z.cbor.zst", "capture-dir.cbor.zst", "capture-link.cbor.zst", "notes-old.cbor.zst", "sign.key"]);
      // Unset, the default is 30 days; a value find refuses fails the script, which the "-" lets the start survive.
      expect(prune({ DMREC_KEEP_DAYS: "" }).exitCode).toBe(0);
      expect(prune({ DMREC_KEEP_DAYS: "soon" }).exitCode).not.toBe(0);
      expect(text()).toContain("\nExecStartPre=-/bin/sh -c 'exec /usr/bin/find /var/lib/dmrec ");
      expect(readFileSync(join(root, "etc/default/dmrec"), "utf8")).toContain("\nDMREC_KEEP_DAYS=30\n");
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });

  test("reload rotates, failures restart, the state directory is its own; hourly rotation by default", () => {
    const t = text();
    expect(t).toContain("ExecReload=/bin/kill -HUP $MAINPID\n");
    expect(t).toContain("Restart=on-failure\n");
    expect(t).toContain("StateDirectory=dmrec\nStateDirectoryMode=0700\n");
    expect(readFileSync(join(root, "etc/default/dmrec"), "utf8")).toContain('DMREC_OPTIONS="--rotate-every 1h --max-files 720"\n');
  });

  test("hardened: only CAP_BPF and CAP_PERFMON, nothing writable but its directory; systemd-analyze security rates it OK", () => {
    const t = text();
    for (const line of ["CapabilityBoundingSet=CAP_BPF CAP_PERFMON", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=yes"]) {
      expect(t).toContain(`\n${line}\n`);
    }
    const r = run(["systemd-analyze", "security", "--offline=true", `--root=${root}`, "--no-pager", unit]);
    const score = /Overall exposure level for dmrec\.service: (\d+\.\d+) (\S+)/.exec(r.stdout);
    console.log(`systemd-analyze security: ${score?.[0] ?? r.stdout.slice(-300)}`);
    expect(score).not.toBeNull();
    expect(Number(score![1])).toBeLessThanOrEqual(2.5);
  });

  test("its SystemCallFilter allows every system call a signed, rotating recording makes (strace -f)", () => {
    const filter = /\nSystemCallFilter=(.+)\n/.exec(text())![1]!.split(" ");
    // A group's names, its nested groups expanded, as systemd-analyze lists them.
    const expand = (name: string): string[] =>
      name.startsWith("@")
        ? run(["systemd-analyze", "syscall-filter", "--no-pager", name])
            .stdout.split("\n")
            .slice(1)
            .map((l) => l.trim())
            .filter((l) => l !== "" && !l.startsWith("#"))
            .flatMap(expand)
        : [name];
    const allowed = new Set(filter.flatMap(expand));
    expect(allowed.size).toBeGreaterThan(300);
    const exe = join(root, "usr/bin/dmrec");
    const key = join(root, "strace-sign");
    expect(run([exe, "keygen", "--out", key]).code).toBe(0);
    const trace = join(root, "strace.txt");
    const out = join(root, "strace.cbor.zst");
    const r = run(["strace", "-f", "-qq", "-o", trace, exe, "record", "--quiet", "--out", out, "--sign-key", `${key}.key`, "--duration", "2500ms", "--rotate-every", "1s", "--max-files", "2"]);
    expect(r.code).toBe(0);
    const used = new Set(readFileSync(trace, "utf8").split("\n").flatMap((l) => /^\d+\s+([a-z_0-9]+)\(/.exec(l)?.[1] ?? []));
    expect(used.has("bpf")).toBe(true);
    expect([...used].filter((call) => !allowed.has(call))).toEqual([]);
  });

  test("the recorder as the unit runs it: with only CAP_BPF and CAP_PERFMON it attaches, records and seals", () => {
    const out = join(root, "capture.cbor.zst");
    const exe = join(root, "usr/bin/dmrec");
    const r = run(["setpriv", "--inh-caps=-all", "--bounding-set=-all,+bpf,+perfmon", "--", exe, "record", "--quiet", "--out", out, "--duration", "1s"]);
    expect([r.code, r.stderr]).toEqual([0, expect.stringContaining("first key of")]);
    expect(run([exe, "verify", out]).code).toBe(0);
  });
});
