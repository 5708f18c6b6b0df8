// End to end on the real kernel, as root: the compiled dist/dmrec records real
// delete_module calls made by build/dm_call, then dist/dmrec query must return
// exactly those calls. Needs `make build build/dm_call` (make test does it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ascii,
  captureItems,
  DM_CALL,
  DMREC,
  dmrec,
  hex,
  jsonl,
  query,
  requireRoot,
  runJson,
  startRecorder,
  type Stopped,
} from "../support/recorder.ts";

const O_NONBLOCK = 0o4000;
const O_TRUNC = 0o1000;

requireRoot();

/** The calls dm_call makes: name bytes (or an unmapped pointer) and flags. */
const CALLS: { name: Uint8Array | "unmapped"; flags: number }[] = [
  { name: ascii("dummy"), flags: 0 },
  { name: ascii("blowfish_common"), flags: O_NONBLOCK },
  { name: ascii("nf_tables"), flags: O_TRUNC | O_NONBLOCK },
  { name: ascii("m".repeat(30) + "0123456789".repeat(3)), flags: 0 }, // 60 bytes
  { name: Uint8Array.of(0x66, 0x6f, 0x80, 0xff, 0xc3, 0x28, 0x6f), flags: O_NONBLOCK },
  { name: "unmapped", flags: 0 },
];

interface Truth {
  pid: number;
  tid: number;
  name_ptr: string;
  flags: number;
  ret: number;
}

interface Recording extends Stopped {
  dir: string;
  capture: string;
  truth: Truth[];
  /** wall-clock ns just before and just after dm_call ran */
  startedNs: bigint;
  endedNs: bigint;
}

const wallNs = () => BigInt(Date.now()) * 1_000_000n;

/** Records dm_call's CALLS, stopping the recorder with `signal`. */
async function recordCalls(signal: "SIGINT" | "SIGTERM"): Promise<Recording> {
  const rec = await startRecorder(["--print"]);
  const args = CALLS.flatMap((c) => [c.name === "unmapped" ? "unmapped" : hex(c.name), String(c.flags)]);
  const startedNs = wallNs();
  const truth = runJson<Truth>([DM_CALL, ...args]);
  const endedNs = wallNs() + 1_000_000n; // Date.now() has ms resolution
  return { dir: rec.dir, capture: rec.capture, ...(await rec.stop(signal)), truth, startedNs, endedNs };
}

describe("dmrec record on this machine's kernel (raw-syscalls hook)", () => {
  let r: Recording;
  beforeAll(async () => {
    r = await recordCalls("SIGINT");
  });
  afterAll(() => rmSync(r.dir, { recursive: true, force: true }));

  test("SIGINT stops the recorder cleanly with a one-line summary", () => {
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/c\.cbor\.zst: \d+ events, \d+ aggregated, 0 lost, \d+ bytes\n$/);
  });

  test("query returns exactly dm_call's calls, field by field", () => {
    const pid = r.truth[0]!.pid;
    const q = dmrec("query", r.capture, "--pid", String(pid), "--format", "jsonl");
    expect(q.stderr).toBe("");
    expect(q.code).toBe(0);
    const events = jsonl(q.stdout);
    expect(events.length).toBe(CALLS.length);
    events.forEach((ev, i) => {
      const call = CALLS[i]!;
      const t = r.truth[i]!;
      expect(ev.type).toBe("event");
      expect(ev.hook).toBe("raw-syscalls");
      expect(ev.pid).toBe(t.pid);
      expect(ev.tid).toBe(t.tid);
      expect(ev.ppid).toBe(process.pid);
      expect(ev.uid).toBe(0);
      expect(ev.euid).toBe(0);
      expect(ev.comm).toBe("dm_call");
      expect(ev.name_ptr).toBe(t.name_ptr);
      expect(ev.flags).toBe(call.flags);
      expect(ev.ret).toBe(-38);
      expect(t.ret).toBe(-38);
      expect(ev.errno).toBe("ENOSYS");
      expect(ev.forced).toBe(false);
      expect(BigInt(ev.duration_ns as string)).toBeGreaterThan(0n);
      if (call.name === "unmapped") {
        expect(ev.name_entry).toBeNull();
        expect(ev.name_entry_err).toBe(-14);
        expect(ev.name_exit).toBeNull();
        expect(ev.name_exit_err).toBe(-14);
        expect(ev.name).toBeNull();
      } else {
        expect(ev.name_entry_hex).toBe(hex(call.name));
        expect(ev.name_exit_hex).toBe(hex(call.name));
        expect(ev.name_hex).toBe(hex(call.name));
        expect(ev.name_entry_err).toBeNull();
        expect(ev.name_exit_err).toBeNull();
      }
    });
    expect(events.map((e) => e.flags_names)).toEqual([
      [], ["O_NONBLOCK"], ["O_TRUNC", "O_NONBLOCK"], [], ["O_NONBLOCK"], [],
    ]);
  });

  test("each event's wall-clock time falls within the helper's run, in call order", () => {
    const q = jsonl(dmrec("query", r.capture, "--pid", String(r.truth[0]!.pid), "--format", "jsonl").stdout);
    const times = q.map((e) => BigInt(e.ts_ns as string));
    for (const ts of times) {
      expect(ts).toBeGreaterThanOrEqual(r.startedNs - 1_000_000n);
      expect(ts).toBeLessThanOrEqual(r.endedNs);
    }
    expect([...times].sort((a, b) => (a < b ? -1 : 1))).toEqual(times);
    expect(q[0]!.time).toStartWith(new Date(Number(times[0]! / 1_000_000n)).toISOString().slice(0, 23));
  });

  test("--print wrote the same events live on stdout", () => {
    const printed = jsonl(r.stdout).filter((e) => e.pid === r.truth[0]!.pid);
    const queried = jsonl(dmrec("query", r.capture, "--pid", String(r.truth[0]!.pid), "--format", "jsonl").stdout);
    expect(printed).toEqual(queried);
  });

  test("query and export give the same answer under Deno as the compiled executable", () => {
    const deno = Bun.spawnSync(["node_modules/.bin/deno", "run", "--no-lock", "--no-check", "--allow-read", "--allow-env",
      "src/main.ts", "query", r.capture, "--format", "jsonl"]);
    expect(deno.stderr.toString()).toBe("");
    expect(deno.exitCode).toBe(0);
    expect(deno.stdout.toString()).toBe(dmrec("query", r.capture, "--format", "jsonl").stdout);
    const denoCsv = Bun.spawnSync(["node_modules/.bin/deno", "run", "--no-lock", "--no-check", "--allow-read", "--allow-env",
      "src/main.ts", "export", r.capture, "--format", "csv", "--module", "*o*"]);
    expect(denoCsv.exitCode).toBe(0);
    expect(denoCsv.stdout.toString()).toBe(dmrec("export", r.capture, "--format", "csv", "--module", "*o*").stdout);
  });

  test("--module matches exactly or by glob", () => {
    expect(jsonl(dmrec("query", r.capture, "--module", "dummy", "--format", "jsonl").stdout).length).toBe(1);
    expect(jsonl(dmrec("query", r.capture, "--module", "dumm", "--format", "jsonl").stdout).length).toBe(0);
    const glob = jsonl(dmrec("query", r.capture, "--module", "*_*", "--format", "jsonl").stdout);
    expect(glob.map((e) => e.name)).toEqual(["blowfish_common", "nf_tables"]);
    expect(dmrec("query", r.capture, "--module", "dummy", "--count").stdout.trim()).toBe("1");
  });

  test("the capture decompresses with the zstd CLI and decodes with an independent CBOR decoder", () => {
    expect(Bun.spawnSync(["zstd", "-q", "-t", r.capture]).exitCode).toBe(0);
    const items = captureItems(r.capture);
    expect(items[0]!.type).toBe("header");
    expect(items[0]!.format).toBe("dmrec-capture");
    expect(items[0]!.hook).toBe("raw-syscalls");
    const mine = items.filter((i) => i.type === "event" && i.pid === r.truth[0]!.pid);
    expect(mine.length).toBe(CALLS.length);
    mine.forEach((ev, i) => {
      const call = CALLS[i]!;
      expect(ev.name_entry).toEqual(call.name === "unmapped" ? null : call.name);
      expect(ev.flags).toBe(call.flags);
      expect(ev.ret).toBe(-38);
      expect(typeof ev.ts_ns).toBe("bigint"); // beyond 2^53: exact only as a bigint
      // cborg gives a number for an integer below 2^53, a bigint above
      expect(BigInt(ev.name_ptr as number | bigint)).toBe(BigInt(r.truth[i]!.name_ptr));
    });
  });
});

describe("dmrec record stops cleanly", () => {
  test("on SIGTERM", async () => {
    const r = await recordCalls("SIGTERM");
    try {
      expect(r.exitCode).toBe(0);
      expect(r.stderr).toMatch(/\d+ events, \d+ aggregated, 0 lost/);
      const n = dmrec("query", r.capture, "--pid", String(r.truth[0]!.pid), "--count");
      expect(n.stdout.trim()).toBe(String(CALLS.length));
    } finally {
      rmSync(r.dir, { recursive: true, force: true });
    }
  });

  test("after --duration", () => {
    const dir = mkdtempSync(join(tmpdir(), "dmrec-e2e-"));
    try {
      const out = join(dir, "d.cbor.zst");
      const rec = Bun.spawnSync([DMREC, "record", "--out", out, "--duration", "1s"]);
      expect(rec.exitCode).toBe(0);
      expect(rec.stderr.toString()).toMatch(/d\.cbor\.zst: \d+ events, \d+ aggregated, 0 lost, \d+ bytes/);
      expect(dmrec("query", out, "--count").code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** KiB of `pid`'s resident pages mapped from `file`. */
function residentKb(pid: number, file: string): number {
  let kb = 0;
  let ours = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) ours = line.endsWith(` ${file}`);
    else if (ours && line.startsWith("Rss:")) kb += Number(/\d+/.exec(line)![0]);
  }
  return kb;
}

describe("an idle recorder", () => {
  test("gives back the executable's start-up pages after 3 s, and still records", async () => {
    // A copy of its own: pages another process maps too (a parallel query) stay.
    const dir = mkdtempSync(join(tmpdir(), "dmrec-pages-"));
    const exe = join(dir, "dmrec");
    copyFileSync(DMREC, exe);
    chmodSync(exe, 0o755);
    const rec = await startRecorder([], [exe, "record"]);
    try {
      const before = residentKb(rec.pid, exe);
      await Bun.sleep(4000);
      const after = residentKb(rec.pid, exe);
      expect(before).toBeGreaterThan(20 * 1024);
      expect(after).toBeLessThan(before / 2);
      const truth = runJson<Truth>([DM_CALL, hex(ascii("after_release")), "0"]);
      const stopped = await rec.stop();
      expect(stopped.exitCode).toBe(0);
      const events = query(rec.capture, "--module", "after_release");
      expect(events.map((e) => e.pid)).toEqual([truth[0]!.pid]);
    } finally {
      rmSync(rec.dir, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the compiled executable alone", () => {
  test("records and queries with no Bun, no node_modules and no source tree in reach", () => {
    const dir = mkdtempSync(join(tmpdir(), "dmrec-alone-"));
    try {
      const exe = join(dir, "dmrec");
      Bun.spawnSync(["cp", DMREC, DM_CALL, dir]);
      const repo = process.cwd();
      // A private mount namespace where the repository (sources, node_modules,
      // the npm-installed bun and deno) is an empty tmpfs.
      const script = [
        `mount -t tmpfs none ${repo}`,
        `test -z "$(ls -A ${repo})"`,
        "! command -v bun && ! command -v deno",
        `cd / && ${exe} record --out ${dir}/alone.cbor.zst --duration 1500ms --quiet &`,
        "sleep 1",
        `${dir}/dm_call ${hex(ascii("alone"))} 0 >/dev/null`,
        "wait $!",
        `${exe} query ${dir}/alone.cbor.zst --module alone --format jsonl`,
      ].join("\n");
      const r = Bun.spawnSync(["unshare", "-m", "--propagation", "private", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "sh", "-ec", script]);
      // --quiet leaves one line: the first key's fingerprint, which is evidence.
      expect(r.stderr.toString()).toMatch(/^dmrec: first key of \S+alone\.cbor\.zst: [0-9a-f]{64} \(keep it off this host; dmrec verify --pin [0-9a-f]{64}\)\n$/);
      expect(r.exitCode).toBe(0);
      const events = jsonl(r.stdout.toString());
      expect(events.length).toBe(1);
      expect(events[0]!.name).toBe("alone");
      expect(events[0]!.comm).toBe("dm_call");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the status line", () => {
  test("is drawn on a terminal and cleared before the summary", () => {
    const dir = mkdtempSync(join(tmpdir(), "dmrec-tty-"));
    try {
      const out = join(dir, "tty.cbor.zst");
      // script(1) gives the recorder a pseudo-terminal as stderr.
      const r = Bun.spawnSync(["script", "-qec", `${DMREC} record --out ${out} --duration 2500ms`, "/dev/null"]);
      const text = r.stdout.toString();
      expect(r.exitCode).toBe(0);
      expect(text).toContain("\r\x1b[Kdmrec: 0 events, 0 aggregated, 0 lost, ");
      expect(text).toMatch(/\r\x1b\[Kdmrec: .*tty\.cbor\.zst: 0 events, 0 aggregated, 0 lost, \d+ bytes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
