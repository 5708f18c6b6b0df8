// Bad input and missing privileges: one clear line on stderr, a documented
// exit code (README.md), no stack trace, nothing already written lost.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const DMREC = realpathSync("dist/dmrec");
const dir = mkdtempSync(join(tmpdir(), "dmrec-errors-"));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

if (process.getuid?.() !== 0) throw new Error("these tests need root: run them as root, as CI does");

function run(cmd: string[]) {
  const r = Bun.spawnSync(cmd, { cwd: dir });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}
const dmrec = (...args: string[]) => run([DMREC, ...args]);

function expectOneLineError(r: { code: number; stderr: string }, code: number, pattern: RegExp) {
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr.trimEnd().split("\n").length).toBe(1);
  expect(r.stderr).toStartWith("dmrec: ");
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.code).toBe(code);
}

/** A real capture to damage; one second of recording. */
const good = join(dir, "good.cbor.zst");
const made = run([DMREC, "record", "--out", good, "--duration", "300ms", "--quiet"]);
if (made.code !== 0) throw new Error(`could not record a capture: ${made.stderr}`);

describe("record", () => {
  test("without root", () => {
    const r = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", DMREC, "record", "--out", join(dir, "np.cbor.zst")]);
    expectOneLineError(r, 6, /record needs root/);
  });

  test("without a loadable libbpf.so.1", () => {
    const lib = realpathSync(
      run(["sh", "-c", "ldconfig -p | awk '/libbpf\\.so\\.1 .*x86-64/ {print $NF; exit}'"]).stdout.trim(),
    );
    const r = run(["unshare", "-m", "sh", "-c", `mount --bind /dev/null ${lib} && exec ${DMREC} record --out ${join(dir, "nolib.cbor.zst")}`]);
    expectOneLineError(r, 7, /cannot load libbpf\.so\.1 .*apt-get install libbpf1/);
  });

  test("an existing output without --force is left untouched", () => {
    const out = join(dir, "exists.cbor.zst");
    writeFileSync(out, "precious");
    expectOneLineError(dmrec("record", "--out", out, "--duration", "1s"), 5, /exists.*--force/);
    expect(readFileSync(out, "utf8")).toBe("precious");
  });

  test("--force replaces an existing capture", () => {
    const out = join(dir, "forced.cbor.zst");
    writeFileSync(out, "old");
    const r = dmrec("record", "--out", out, "--duration", "200ms", "--force", "--quiet");
    expect(r.code).toBe(0);
    expect(dmrec("query", out, "--count").code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });

  test("a symlink at the output path is never followed, even with --force", () => {
    const target = join(dir, "target");
    writeFileSync(target, "victim");
    const link = join(dir, "link.cbor.zst");
    symlinkSync(target, link);
    expectOneLineError(dmrec("record", "--out", link, "--duration", "1s", "--force"), 5, /symbolic link/);
    expect(readFileSync(target, "utf8")).toBe("victim");
  });

  test("bad --duration", () => {
    expectOneLineError(dmrec("record", "--duration", "soon"), 2, /--duration: cannot parse "soon"/);
  });

  test("negative or zero durations, and values that start with a dash, are checked as values", () => {
    const out = join(dir, "never.cbor.zst");
    expectOneLineError(dmrec("record", "--rotate-every", "-1h", "--out", out), 2, /--rotate-every: cannot parse "-1h"/);
    expectOneLineError(dmrec("record", "--duration", "0", "--out", out), 2, /--duration: must be longer than 0, got "0"/);
    expectOneLineError(dmrec("record", "--segment-ms", "-5", "--out", out), 2, /--segment-ms: expected a positive integer, got "-5"/);
    expectOneLineError(dmrec("record", "--rotate-size", "-1M", "--out", out), 2, /--rotate-size: cannot parse "-1M"/);
  });

  test("an option given twice is one clear error, for values, flags and short aliases alike", () => {
    const out = join(dir, "never.cbor.zst");
    expectOneLineError(dmrec("record", "--duration", "1s", "--duration", "2s", "--out", out), 2, /^dmrec: --duration: given more than once$/m);
    expectOneLineError(dmrec("record", "--out", out, "-o", join(dir, "other.cbor.zst")), 2, /--out: given more than once/);
    expectOneLineError(dmrec("record", "-q", "--quiet", "--out", out), 2, /--quiet: given more than once/);
  });

  test("bad budgets: a budget of 0, a word, a fraction, beyond 32 bits", () => {
    for (const [option, value] of [["--budget-key", "0"], ["--budget-process", "many"], ["--budget-global", "1.5"], ["--budget-toctou-global", "4294967296"]]) {
      expectOneLineError(dmrec("record", option!, value!, "--out", join(dir, "never.cbor.zst")), 2, new RegExp(`${option}: expected a number of events per second .* or "unlimited", got "${value!.replace(".", "\\.")}"`));
    }
  });
});

describe("query", () => {
  test("an option given twice, or a flag given a value, is refused; repeatable filters are not", () => {
    expectOneLineError(dmrec("query", good, "--format", "json", "--format", "csv"), 2, /--format: given more than once/);
    expectOneLineError(dmrec("query", good, "--forced", "--forced"), 2, /--forced: given more than once/);
    expectOneLineError(dmrec("query", good, "--forced=maybe"), 2, /--forced: takes no value, got "maybe"/);
    expectOneLineError(dmrec("query", good, "--since", "-2h"), 2, /--since: cannot parse "-2h"/);
    const both = dmrec("query", good, "--module", "a", "--module", "b", "--pid", "1", "--pid", "2", "--count");
    expect(both.stderr).toBe("");
    expect(both.code).toBe(0);
  });

  test("a missing file", () => {
    expectOneLineError(dmrec("query", join(dir, "nope.cbor.zst")), 3, /nope\.cbor\.zst: no such file/);
  });

  test("an empty file", () => {
    writeFileSync(join(dir, "empty"), "");
    expectOneLineError(dmrec("query", join(dir, "empty")), 3, /empty: empty file/);
  });

  test("a file that is not a capture", () => {
    writeFileSync(join(dir, "text"), "hello, this is not a capture\n");
    expectOneLineError(dmrec("query", join(dir, "text")), 3, /text: .*not a/);
  });

  test("a directory", () => {
    expectOneLineError(dmrec("query", dir), 3, /dmrec-errors-\w+: /);
  });

  test("a truncated capture: what is intact is shown, then the damage is reported", () => {
    const bytes = readFileSync(good);
    const cut = join(dir, "cut.cbor.zst");
    writeFileSync(cut, bytes.subarray(0, bytes.length - 5));
    const r = dmrec("query", cut, "--format", "jsonl");
    expectOneLineError(r, 4, /cut\.cbor\.zst: .*truncated.* at byte \d+/);
  });

  test("unknown option, bad filter values", () => {
    expectOneLineError(dmrec("query", good, "--colour"), 2, /Unknown argument: colour/);
    expectOneLineError(dmrec("query", good, "--result", "EWHATEVER"), 2, /--result/);
    expectOneLineError(dmrec("query", good, "--since", "yesterdayish"), 2, /--since: cannot parse "yesterdayish"/);
    expectOneLineError(dmrec("query"), 3, /^dmrec: no capture named and \.\/capture\.cbor\.zst does not exist/);
    expectOneLineError(dmrec("query", good, "--module"), 2, /^dmrec: Not enough arguments following: module\n$/);
    expectOneLineError(dmrec("verify", good, "--pin"), 2, /^dmrec: Not enough arguments following: pin\n$/);
  });

  test("a repeatable filter takes one value: the capture after it is read, not taken for a second value", () => {
    const r = dmrec("query", "--module", "nosuch", good, "--count");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("0\n");
    expect(dmrec("query", "--pid", "1", "--pid", "2", good, "--count").code).toBe(0);
  });
});

describe("info and verify", () => {
  test("a missing file", () => {
    expectOneLineError(dmrec("info", join(dir, "nope.cbor.zst")), 3, /nope\.cbor\.zst: no such file/);
  });

  test("a public key that is not one", () => {
    writeFileSync(join(dir, "bad.pub"), "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    expectOneLineError(dmrec("verify", good, "--pubkey", join(dir, "bad.pub")), 3, /bad\.pub: /);
  });
});

describe("export", () => {
  test("--out refuses to clobber", () => {
    const out = join(dir, "out.csv");
    writeFileSync(out, "keep");
    expectOneLineError(dmrec("export", good, "--format", "csv", "--out", out), 5, /exists.*--force/);
    expect(readFileSync(out, "utf8")).toBe("keep");
  });

  test("--out writes a 0600 file", () => {
    const out = join(dir, "new.csv");
    const r = dmrec("export", good, "--format", "csv", "--out", out);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readFileSync(out, "utf8")).toStartWith("type,time,ts_ns,");
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });
});

describe("help and version", () => {
  for (const cmd of [[], ["record"], ["query"], ["export"], ["info"], ["verify"], ["keygen"], ["doctor"]]) {
    test(`dmrec ${cmd.join(" ")} --help`, () => {
      const r = dmrec(...cmd, "--help");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("--help");
    });
  }

  test("--version", () => {
    const r = dmrec("--version");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync("package.json", "utf8")).version);
  });
});
