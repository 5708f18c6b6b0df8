// What the offline commands take as input: `-` for standard input (a pipe or
// a file, else refused with exit 2, never "ok" having read nothing), key files
// read only up to their size limit, many captures under a low limit of open
// files, and the index used only for the filters it covers. The commands run
// in a child process, whose standard input and limits the test sets.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeSegmentHash, encodeMetaInfo } from "../../src/capture/encode_checked.ts";
import { decodeMeta } from "../../src/capture/items.ts";
import { InputError } from "../../src/errors.ts";
import type { SegmentInfo } from "../../src/event.ts";
import { loadPrivateKey, loadPublicKey } from "../../src/keys.ts";
import { parseFilter, segmentMayMatch } from "../../src/query/filter.ts";
import { MAX_OPEN_CAPTURES, mergedItems } from "../../src/query/merge.ts";
import { anatomy, concat, header, ROOT, skippableFrame, slice, tempDir, writeCapture } from "../support/captures.ts";
import { latin1, makeEvent } from "../support/events.ts";

const temp = tempDir("dmrec-inputs-");
afterAll(temp.cleanup);

const events = Array.from({ length: 6 }, (_, i) => makeEvent({ pid: 200 + i, ts_ns: 1764118674000000000n + BigInt(i) }));
let capture: string;
beforeAll(() => {
  capture = temp.path();
  writeCapture(capture, events, { segmentEvents: 2 });
});

type Stdin = "pipe" | "file" | "null";

/**
 * Runs one offline command as the CLI would, with `stdin` as standard input:
 * the bytes of `file` through a pipe, the file itself, or /dev/null (a
 * character device, as a terminal is). Prints what main.ts prints.
 */
function command(name: "query" | "stats" | "info" | "verify", files: string[], file = capture, stdin: Stdin = "pipe") {
  const call = {
    query: `(await import("./src/commands/query.ts")).queryCommand({ files, filter: {}, format: "jsonl", count: false })`,
    stats: `(await import("./src/commands/stats.ts")).statsCommand({ files, filter: {}, json: true })`,
    info: `(await import("./src/commands/info.ts")).infoCommand({ files, json: true })`,
    verify: `(await import("./src/commands/verify.ts")).verifyCommand({ files, json: true })`,
  }[name];
  const script = `const files = ${JSON.stringify(files)};
try { process.exitCode = await ${call}; } catch (e) { process.stderr.write("dmrec: " + e.message + "\\n"); process.exitCode = e.exitCode ?? 1; }`;
  const input = stdin === "pipe" ? new Uint8Array(readFileSync(file)) : stdin === "file" ? Bun.file(file) : Bun.file("/dev/null");
  const r = Bun.spawnSync([process.execPath, "-e", script], { cwd: ROOT, stdin: input });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("- reads standard input", () => {
  for (const name of ["query", "stats", "info", "verify"] as const) {
    test(`${name}: a pipe and a redirected file read as the file does`, () => {
      const fromFile = command(name, [capture]);
      expect(fromFile.code).toBe(0);
      for (const stdin of ["pipe", "file"] as const) {
        const r = command(name, ["-"], capture, stdin);
        expect([stdin, r.code, r.stderr]).toEqual([stdin, 0, ""]);
        // The file's name, where it stands alone and where it starts a message ("-: authenticated: ...").
        const named = r.stdout.replaceAll('"-"', JSON.stringify(capture)).replaceAll('"-: ', `${JSON.stringify(capture).slice(0, -1)}: `);
        expect(named).toBe(fromFile.stdout);
      }
    });

    test(`${name}: a terminal or nothing there is refused with exit 2, before anything is printed`, () => {
      const r = command(name, ["-"], capture, "null");
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe("dmrec: -: standard input is not a pipe or a file; give a capture there (dmrec ... - < capture.cbor.zst) or name the file\n");
    });
  }

  test("standard input with other files, once; twice is refused; none at all is refused", () => {
    const both = command("query", [capture, "-"]);
    expect(both.code).toBe(0);
    expect(both.stdout.trim().split("\n")).toHaveLength(2 * events.length);
    expect(command("verify", ["-", "-"])).toMatchObject({ code: 2, stderr: "dmrec: - (standard input) given more than once\n" });
    expect(command("verify", [])).toMatchObject({ code: 2, stdout: "", stderr: "dmrec: no capture given (name one, or - for standard input)\n" });
  });

  test("damage on standard input is reported like a file's, and info drains the pipe to give its size", () => {
    const cut = temp.path();
    const bytes = readFileSync(capture);
    writeFileSync(cut, concat([bytes, new Uint8Array(50).fill(7)]));
    const r = command("info", ["-"], cut);
    expect(r.code).toBe(4);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ file: "-", bytes: bytes.length + 50, damage: { offset: bytes.length } });
    expect(r.stderr).toBe(`dmrec: -: not a zstd frame (magic 0x07070707) at byte ${bytes.length}\n`);
  });

  test("the CLI never says ok for `verify -` having read nothing", () => {
    const r = Bun.spawnSync([process.execPath, "src/main.ts", "verify", "-"], { cwd: ROOT, stdin: Bun.file("/dev/null") });
    expect(r.exitCode).toBe(2);
    expect(r.stdout.toString()).toBe("");
  });
});

describe("key files are read only up to their size limit", () => {
  test("/dev/zero, a large file, a directory: refused at once", () => {
    const started = performance.now();
    expect(() => loadPublicKey("/dev/zero")).toThrow(new InputError("/dev/zero", "not a PEM key file (larger than 65536 bytes)"));
    expect(() => loadPrivateKey("/dev/zero")).toThrow("/dev/zero: not a PEM key file (larger than 65536 bytes)");
    const big = temp.path("big.pem");
    writeFileSync(big, `-----BEGIN PUBLIC KEY-----\n${"A".repeat(10 << 20)}\n`);
    expect(() => loadPublicKey(big)).toThrow(`${big}: not a PEM key file (larger than 65536 bytes)`);
    expect(() => loadPublicKey(temp.dir)).toThrow(`${temp.dir}: is a directory, not a key file`);
    expect(() => loadPublicKey(join(temp.dir, "none.pem"))).toThrow("no such key file");
    // Reading 4 GB of zeros would take seconds: the limit makes it a few microseconds.
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("a key file at the limit, and one from a pipe, still load", () => {
    const pub = readFileSync(join(ROOT, "fixtures", "test-key.pub.pem"), "utf8");
    const padded = temp.path("padded.pem");
    writeFileSync(padded, pub.padEnd(65536, "\n"));
    expect(loadPublicKey(padded).asymmetricKeyType).toBe("ed25519");
    const r = Bun.spawnSync(
      [process.execPath, "-e", `const { loadPublicKey } = await import("./src/keys.ts"); console.log(loadPublicKey("/dev/stdin").asymmetricKeyType)`],
      { cwd: ROOT, stdin: new TextEncoder().encode(pub) },
    );
    expect(r.stdout.toString()).toBe("ed25519\n");
  });
});

describe("many captures, few open files", () => {
  const FILES = 3000;
  let dir: string;
  let files: string[];
  beforeAll(() => {
    dir = join(temp.dir, "many");
    mkdirSync(dir);
    // Files that follow each other in time, as a rotation set's do, given in no particular order.
    files = Array.from({ length: FILES }, (_, i) => join(dir, `c${String(i).padStart(4, "0")}.cbor.zst`));
    files.forEach((f, i) => {
      const startNs = header.start_ns + BigInt(i) * 1_000_000n;
      const items = events.map((e, j) => ({ ...e, ts_ns: startNs + BigInt(j) }));
      writeCapture(f, items, { segmentEvents: 2, header: { ...header, start_ns: startNs } });
    });
    files.reverse();
  }, 60_000); // 3000 files, each fsync'd and signed segment by segment: longer than the default hook timeout

  /** The CLI on every file, under `ulimit -n 256` (the test runner's own descriptors stay out of it). */
  const underLimit = (args: string[]) => {
    const r = Bun.spawnSync(["sh", "-c", 'ulimit -n 256 && exec "$@"', "sh", process.execPath, "src/main.ts", ...args], { cwd: ROOT });
    return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };

  test(`query over ${FILES} files, in time order; --count; stats; info; verify`, () => {
    const q = underLimit(["query", ...files, "--format", "jsonl"]);
    expect(q.stderr).toBe("");
    const lines = q.stdout.trim().split("\n");
    expect(lines).toHaveLength(FILES * events.length);
    const times = lines.map((l) => BigInt(JSON.parse(l).ts_ns as string));
    expect(times.every((t, i) => i === 0 || times[i - 1]! < t)).toBe(true);
    expect(underLimit(["query", ...files, "--count"])).toMatchObject({ code: 0, stdout: `${FILES * events.length}\n` });
    expect(JSON.parse(underLimit(["stats", ...files, "--json"]).stdout).totals.events).toBe(FILES * events.length);
    expect(JSON.parse(underLimit(["info", ...files, "--json"]).stdout)).toHaveLength(FILES);
    const v = underLimit(["verify", ...files, "--json"]);
    expect(v.stderr).toBe("");
    expect(JSON.parse(v.stdout).files).toHaveLength(FILES);
  }, 120_000);
});

describe("the index skips segments only for the filters it covers", () => {
  /** The capture with segment 2's trailer saying it holds nothing (its chain hash recomputed or not, the reader does not look). */
  function lyingIndex(): string {
    const bytes = new Uint8Array(readFileSync(capture));
    const t = anatomy(bytes).segments[1]!.trailer;
    const meta = decodeMeta(slice(bytes, t).subarray(8));
    if (meta.type !== "segment") throw new Error("not a trailer");
    const empty: SegmentInfo = { ...meta.info, events: 0, first_ts_ns: null, last_ts_ns: null, modules: [], modules_complete: true };
    const path = temp.path();
    const trailer = skippableFrame(concat([encodeMetaInfo(empty), encodeSegmentHash({ hash: meta.hash, next_key: meta.nextKey, signature: meta.signature }, 2)]));
    writeFileSync(path, concat([bytes.subarray(0, t.offset), trailer, bytes.subarray(t.offset + t.length)]));
    return path;
  }

  test("no filter, or only filters the index does not cover: every segment is read, whatever its entry says", () => {
    const path = lyingIndex();
    for (const opts of [{}, { pid: [202, 203] }, { result: "ok" }, { eventsOnly: true }, { toctou: false }]) {
      const got = [...mergedItems([path], parseFilter(opts, new Date()), [])];
      const want = events.filter((e) => !("pid" in opts) || [202, 203].includes(e.pid));
      expect([JSON.stringify(opts), got.length]).toEqual([JSON.stringify(opts), want.length]);
    }
  });

  test("--module, --since and --until may skip by the entry (verify is what catches a lying one)", () => {
    const path = lyingIndex();
    const got = [...mergedItems([path], parseFilter({ module: ["dummy"] }, new Date()), [])];
    expect(got.map((e) => e.pid)).toEqual([200, 201, 204, 205]);
    const seg: SegmentInfo = {
      type: "segment", index: 1, events: 0, losses: 0, lost_calls: 0, aggregates: 0, aggregated_calls: 0,
      clock_steps: 0,
      first_ts_ns: null, last_ts_ns: null, modules: [latin1("dummy")], modules_complete: true,
    };
    expect(segmentMayMatch(parseFilter({}, new Date()), seg)).toBe(true);
    expect(segmentMayMatch(parseFilter({ eventsOnly: true, pid: [1] }, new Date()), seg)).toBe(true);
    expect(segmentMayMatch(parseFilter({ module: ["dummy"] }, new Date()), seg)).toBe(false);
    expect(segmentMayMatch(parseFilter({ since: "1h" }, new Date()), seg)).toBe(false);
  });
});

test("captures that overlap in time beyond the number read at once: every item still comes out", () => {
  const copies = Array.from({ length: MAX_OPEN_CAPTURES * 3 }, () => {
    const f = temp.path();
    copyFileSync(capture, f);
    return f;
  });
  const got = [...mergedItems(copies, parseFilter({}, new Date()), [])];
  expect(got).toHaveLength(copies.length * events.length);
  for (const e of events) expect(got.filter((x) => x.pid === e.pid)).toHaveLength(copies.length);
});

test("header time orders the files of a merge; a capture that cannot be read fails before any output", () => {
  const later = temp.path();
  writeCapture(later, [makeEvent({ pid: 999, ts_ns: 1764118675000000000n })], { header: { ...header, start_ns: header.start_ns + 10n } });
  const got = [...mergedItems([later, capture], parseFilter({}, new Date()), [])].map((e) => e.pid);
  expect(got).toEqual([...events.map((e) => e.pid), 999]);
  expect(() => [...mergedItems([capture, join(temp.dir, "missing.cbor.zst")], parseFilter({}, new Date()), [])]).toThrow("no such file");
});
