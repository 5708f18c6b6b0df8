// The capture file: writer, reader, frame walker and codec, against each other
// and against independent tools (the zstd CLI, cborg, zstd-codec, Deno).
import { afterAll, describe, expect, test } from "bun:test";
import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { encode as cborgEncode, decodeFirst } from "cborg";
import { Encoder } from "cbor-x";
import { InvalidItemError } from "../../src/capture/codec.ts";
import { readCapture, type ReadOptions } from "../../src/capture/reader.ts";
import { CaptureWriter, MAX_SEGMENT_CONTENT } from "../../src/capture/writer.ts";
import { parseFrame, walkFrames, type ZstdFrame } from "../../src/capture/zstd_frames.ts";
import { DamagedInputError, InputError, OutputError } from "../../src/errors.ts";
import type { CaptureHeader, CaptureItem, DmrecEvent, LossRecord } from "../../src/event.ts";
import { loadZstdCodecBackend, zstd, zstdCompress } from "../../src/runtime.ts";
import { latin1, makeEvent } from "../support/events.ts";

const ROOT = resolve(import.meta.dir, "../..");
const dir = mkdtempSync(join(tmpdir(), "dmrec-capture-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;
const tmp = (name = "c.cbor.zst") => join(dir, `${++fileCount}-${name}`);

const header: CaptureHeader = {
  type: "header",
  format: "dmrec-capture",
  version: 1,
  dmrec_version: "0.1.0",
  host: { hostname: "host1", kernel: "6.18.0", boot_id: "0b7c1d7e-1f1e-4c4c-9d9d-000000000001", arch: "x86_64" },
  hook: "raw-syscalls",
  module_free: false,
  find_module: false,
  clock: { boot_to_wall_ns: 1764000000000000000n },
  argv: ["dmrec", "record", "--out", "c.cbor.zst"],
  start_ns: 1764118674000000000n,
};

const loss: LossRecord = { type: "loss", ts_ns: 1764118675000000000n, count: 17, reason: "ringbuf_full" };

/** Events covering the value space: 64-bit extremes, non-UTF-8 bytes, nulls. */
function sampleEvents(n: number): DmrecEvent[] {
  return Array.from({ length: n }, (_, i) => {
    switch (i % 4) {
      case 0:
        return makeEvent({ pid: 1000 + i, ts_ns: 1764118674123456789n + BigInt(i) });
      case 1: // a failed read at entry, a name with bytes that are not UTF-8, comm as bytes
        return makeEvent({
          pid: 1000 + i,
          comm: latin1("rm\xffmod"),
          name: latin1("du\x80\xfe"),
          name_entry: null,
          name_entry_err: -14,
          name_exit: latin1("du\x80\xfe"),
          name_kernel: null,
          ret: -2,
          errno: "ENOENT",
        });
      case 2: // 64-bit extremes
        return makeEvent({
          pid: 4294967295,
          boot_ns: 2n ** 64n - 1n,
          duration_ns: 0n,
          cgroup_id: 2n ** 63n,
          name_ptr: 0xffff_ffff_ffff_fff0n,
          ts_ns: -(2n ** 63n),
        });
      default: // nothing readable at all
        return makeEvent({
          pid: 1000 + i,
          name: null,
          name_entry: null,
          name_entry_err: -14,
          name_exit: null,
          name_exit_err: -14,
          name_kernel: null,
          errno: null,
          forced: true,
        });
    }
  });
}

function writeCapture(path: string, items: (DmrecEvent | LossRecord)[], opts: { segmentEvents?: number } = {}) {
  const w = CaptureWriter.create(path, header, opts);
  for (const item of items) w.write(item);
  w.close();
  return w;
}

function readAll(path: string, opts?: ReadOptions): { items: CaptureItem[]; error: unknown } {
  const items: CaptureItem[] = [];
  try {
    for (const item of readCapture(path, opts)) items.push(item);
    return { items, error: undefined };
  } catch (error) {
    return { items, error };
  }
}

/** The standard and skippable frames of a file (throws on anything else). */
function framesOf(bytes: Uint8Array): (ZstdFrame & { kind: "standard" | "skippable" })[] {
  return [...walkFrames(bytes)].map((f) => {
    if (f.kind !== "standard" && f.kind !== "skippable") throw new Error(`unexpected frame ${JSON.stringify(f)}`);
    return f;
  });
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function skippableFrame(payload: Uint8Array, magic = 0x184d2a5a): Uint8Array {
  const f = new Uint8Array(8 + payload.length);
  const dv = new DataView(f.buffer);
  dv.setUint32(0, magic, true);
  dv.setUint32(4, payload.length, true);
  f.set(payload, 8);
  return f;
}

/** A file of standard frames, each holding the given values encoded by cborg (an independent encoder). */
function rawCapture(path: string, frames: unknown[][], encode: (v: unknown) => Uint8Array = (v) => cborgEncode(v)) {
  writeFileSync(path, concat(frames.map((values) => zstdCompress(concat(values.map(encode))))));
}

/** Integer-typed values compared by value (cborg and cbor-x differ on number vs bigint), bytes by content. */
function canonical(v: unknown): unknown {
  if (typeof v === "bigint" || typeof v === "number") return `int:${v}`;
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString("hex")}`;
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, canonical(x)]));
  }
  return v;
}

function isSubsequence(part: unknown[], whole: unknown[]): boolean {
  let j = 0;
  for (const x of part) {
    while (j < whole.length && !Bun.deepEquals(x, whole[j], true)) j++;
    if (j++ >= whole.length) return false;
  }
  return true;
}

function run(cmd: string[], stdin?: Uint8Array) {
  const r = Bun.spawnSync(cmd, { cwd: ROOT, stdin });
  return { code: r.exitCode, stdout: new Uint8Array(r.stdout), stderr: r.stderr.toString() };
}

describe("round trip", () => {
  test("header, events and a loss record come back equal, with their types", () => {
    const path = tmp();
    const items = [...sampleEvents(8), loss];
    const w = writeCapture(path, items);
    const { items: got, error } = readAll(path);
    expect(error).toBeUndefined();
    expect(got).toEqual([header, ...items]);
    const ev = got[2] as DmrecEvent;
    expect(typeof ev.ts_ns).toBe("bigint");
    expect(typeof ev.cgroup_id).toBe("bigint");
    expect(Object.getPrototypeOf(ev.name)).toBe(Uint8Array.prototype); // not a Buffer view
    expect(Object.getPrototypeOf(ev.comm)).toBe(Uint8Array.prototype);
    expect((got[3] as DmrecEvent).boot_ns).toBe(2n ** 64n - 1n);
    expect(w.stats).toEqual({ events: 8, losses: 1, segments: 1, bytes: statSync(path).size });
  });

  test("a capture with no events is a header frame only", () => {
    const path = tmp();
    writeCapture(path, []);
    expect(readAll(path)).toEqual({ items: [header], error: undefined });
    expect(framesOf(readFileSync(path)).length).toBe(1);
  });

  test("segments are split by count, one zstd frame each, header in its own frame", () => {
    const path = tmp();
    const events = sampleEvents(10);
    const w = writeCapture(path, events, { segmentEvents: 3 });
    expect(w.stats.segments).toBe(4);
    const bytes = readFileSync(path);
    const frames = framesOf(bytes);
    expect(frames.map((f) => f.kind)).toEqual(["standard", "standard", "standard", "standard", "standard"]);
    expect(frames.reduce((n, f) => n + f.length, 0)).toBe(bytes.length);
    const perFrame = frames.map((f) => {
      const content = zstd.decompress(bytes.subarray(f.offset, f.offset + f.length), 1 << 20);
      if (f.kind === "standard") expect(f.contentSize).toBe(BigInt(content.length));
      let n = 0;
      for (let rest: Uint8Array = content; rest.length > 0; n++) rest = decodeFirst(rest)[1];
      return n;
    });
    expect(perFrame).toEqual([1, 3, 3, 3, 1]);
    expect(readAll(path).items).toEqual([header, ...events]);
  });

  test("a segment is also closed by size, so each stays decodable in one piece", () => {
    const path = tmp();
    const big = makeEvent({ name_kernel: new Uint8Array(4 * 1024 * 1024).fill(0x61) });
    const n = Math.ceil((2 * MAX_SEGMENT_CONTENT) / (4 * 1024 * 1024)) + 1;
    const w = writeCapture(path, Array.from({ length: n }, () => big));
    expect(w.stats.segments).toBeGreaterThanOrEqual(3);
    for (const f of framesOf(readFileSync(path))) {
      if (f.kind === "standard") expect(Number(f.contentSize)).toBeLessThanOrEqual(MAX_SEGMENT_CONTENT);
    }
    expect(readAll(path).items.length).toBe(n + 1);
  });

  test("tick() closes a segment once it is segmentMs old, and when the clock steps back", () => {
    const path = tmp();
    const w = CaptureWriter.create(path, header, { segmentMs: 500 });
    expect(w.tick()).toBe(false); // nothing open
    w.write(makeEvent());
    expect(w.tick(Date.now())).toBe(false);
    expect(w.stats.segments).toBe(0);
    expect(w.tick(Date.now() + 600)).toBe(true);
    expect(w.stats).toMatchObject({ segments: 1, events: 1 });
    w.write(makeEvent());
    expect(w.tick(Date.now() - 60_000)).toBe(true);
    w.close();
    expect(w.stats.segments).toBe(2);
    expect(readAll(path).items.length).toBe(3);
  });

  test("an ill-typed item is refused at write time, before anything is written", () => {
    const path = tmp();
    const w = CaptureWriter.create(path, header);
    const size = statSync(path).size;
    expect(() => w.write(makeEvent({ pid: "1" as unknown as number }))).toThrow(InvalidItemError);
    expect(() => w.write(makeEvent({ ts_ns: 1.5 as unknown as bigint }))).toThrow(/key "ts_ns": expected a signed 64-bit integer, got float 1.5/);
    w.close();
    expect(statSync(path).size).toBe(size);
    expect(() => w.write(makeEvent())).toThrow(/already closed/);
    const bad = tmp();
    expect(() => CaptureWriter.create(bad, { ...header, host: undefined } as unknown as CaptureHeader)).toThrow(/missing key "host"|key "host"/);
    expect(existsSync(bad)).toBe(false);
  });
});

describe("creating the file", () => {
  test("is 0600 even under a permissive umask", () => {
    const old = process.umask(0);
    try {
      const path = tmp();
      writeCapture(path, []);
      expect(statSync(path).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  test("an existing file is refused, or replaced (0600, new inode) with force", () => {
    const path = tmp();
    writeFileSync(path, "precious", { mode: 0o644 });
    expect(() => CaptureWriter.create(path, header)).toThrow(OutputError);
    expect(() => CaptureWriter.create(path, header)).toThrow(/exists \(use --force to overwrite\)/);
    expect(readFileSync(path, "utf8")).toBe("precious");
    const oldIno = statSync(path).ino;
    // A hard link elsewhere must not be written through.
    const other = tmp("hardlink");
    Bun.spawnSync(["ln", path, other]);
    CaptureWriter.create(path, header, { force: true }).close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(path).ino).not.toBe(oldIno);
    expect(readFileSync(other, "utf8")).toBe("precious");
    expect(readAll(path).items).toEqual([header]);
  });

  test("a symlink is never followed, with or without force, dangling or not", () => {
    const target = tmp("target");
    writeFileSync(target, "victim");
    for (const [dest, force] of [[target, false], [target, true], [join(dir, "nowhere"), true]] as const) {
      const link = tmp("link");
      symlinkSync(dest, link);
      expect(() => CaptureWriter.create(link, header, { force })).toThrow(/is a symbolic link, refusing to follow it/);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
    }
    expect(readFileSync(target, "utf8")).toBe("victim");
    expect(existsSync(join(dir, "nowhere"))).toBe(false);
  });

  test("a directory is not replaced, a missing directory is named", () => {
    const d = tmp("dir");
    mkdirSync(d);
    expect(() => CaptureWriter.create(d, header, { force: true })).toThrow(/not a regular file/);
    expect(() => CaptureWriter.create(join(dir, "no", "such.cbor.zst"), header)).toThrow(/no such directory/);
  });

  test("a full disk: OutputError, and the segments already written stay intact", () => {
    if (process.getuid?.() !== 0) throw new Error("this test mounts a small tmpfs: run it as root, as CI does");
    const mnt = tmp("mnt");
    mkdirSync(mnt);
    const mount = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]);
    if (mount.exitCode !== 0) throw new Error(`mount tmpfs: ${mount.stderr}`);
    try {
      const path = join(mnt, "full.cbor.zst");
      const w = CaptureWriter.create(path, header, { segmentEvents: 2 });
      const written: DmrecEvent[] = [];
      let failure: unknown;
      for (let i = 0; i < 100 && !failure; i++) {
        // Incompressible, so that the disk fills within a few segments.
        const ev = makeEvent({ pid: i, name_kernel: crypto.getRandomValues(new Uint8Array(3000)) });
        try {
          w.write(ev);
          written.push(ev);
        } catch (e) {
          failure = e;
        }
      }
      expect(failure).toBeInstanceOf(OutputError);
      expect(String(failure)).toMatch(/full\.cbor\.zst: No space left on device \(writing segment \d+, whose 2 items are not in the file\)/);
      expect(() => w.write(makeEvent())).toThrow(/No space left on device/);
      w.abandon();
      const { stats } = w;
      expect(stats.bytes).toBe(statSync(path).size);
      const { items, error } = readAll(path);
      expect(error).toBeUndefined(); // cut back to the last complete segment
      expect(items).toEqual([header, ...written.slice(0, stats.events)]);
      expect(stats.events).toBeGreaterThan(0);
    } finally {
      Bun.spawnSync(["umount", mnt]);
    }
  });
});

describe("reading bad input", () => {
  const expectInputError = (path: string, pattern: RegExp) => {
    const { items, error } = readAll(path);
    expect(items).toEqual([]);
    expect(error).toBeInstanceOf(InputError);
    expect(String((error as Error).message)).toMatch(pattern);
  };

  test("missing, empty, a directory", () => {
    expectInputError(join(dir, "missing.cbor.zst"), /missing\.cbor\.zst: no such file$/);
    const empty = tmp("empty");
    writeFileSync(empty, "");
    expectInputError(empty, /empty: empty file, not a capture$/);
    expectInputError(dir, /is a directory/);
  });

  test("not a capture: random bytes, text, zstd of something else, another format", () => {
    const random = tmp("random");
    writeFileSync(random, crypto.getRandomValues(new Uint8Array(4096)));
    expectInputError(random, /not a dmrec capture/);
    const text = tmp("text");
    writeFileSync(text, "hello, this is not a capture\n");
    expectInputError(text, /not a dmrec capture \(not a zstd frame/);
    const zText = tmp("text.zst");
    writeFileSync(zText, zstdCompress(new TextEncoder().encode("hello, this is not a capture\n")));
    expectInputError(zText, /not a dmrec capture/);
    const notCbor = tmp("notcbor.zst");
    writeFileSync(notCbor, zstdCompress(new Uint8Array([0xa1, 0x61])));
    expectInputError(notCbor, /not a dmrec capture \(not CBOR: .*\)$/);
    const other = tmp("other");
    rawCapture(other, [[{ ...header, format: "something-else" }]]);
    expectInputError(other, /not a dmrec capture/);
    const onlySkippable = tmp("skippable");
    writeFileSync(onlySkippable, skippableFrame(new Uint8Array(3)));
    expectInputError(onlySkippable, /not a dmrec capture \(no zstd data frame\)/);
  });

  test("another major version is refused before anything is read", () => {
    const path = tmp();
    rawCapture(path, [[{ ...header, version: 2, host: "changed in v2" }], [makeEvent()]]);
    expectInputError(path, /capture format version 2 is not supported \(this dmrec reads version 1\)/);
  });

  test("a header with a missing or ill-typed key is damage at byte 0", () => {
    const path = tmp();
    const { argv: _argv, ...noArgv } = header;
    rawCapture(path, [[noArgv], [makeEvent()]]);
    const { items, error } = readAll(path);
    expect(items).toEqual([]);
    expect(error).toBeInstanceOf(DamagedInputError);
    expect((error as DamagedInputError).offset).toBe(0);
    expect((error as Error).message).toMatch(/invalid header: missing key "argv" at byte 0$/);
  });

  test("truncated anywhere: the intact prefix, then DamagedInputError at the cut frame", () => {
    const full = tmp();
    const events = sampleEvents(7);
    writeCapture(full, events, { segmentEvents: 3 });
    const bytes = readFileSync(full);
    const frames = framesOf(bytes);
    const itemsBefore = [0, 1, 4, 7, 8]; // items in the frames before frame i
    const expected = [header, ...events];
    const cutPath = tmp("cut");
    for (let cut = 1; cut < bytes.length; cut++) {
      writeFileSync(cutPath, bytes.subarray(0, cut));
      const { items, error } = readAll(cutPath);
      const i = frames.findIndex((f) => cut < f.offset + f.length);
      const frame = frames[i]!;
      if (cut === frame.offset) {
        expect(error).toBeUndefined();
      } else {
        expect(error).toBeInstanceOf(DamagedInputError);
        expect((error as DamagedInputError).offset).toBe(frame.offset);
        expect((error as Error).message).toMatch(i === 0 ? /truncated header frame at byte 0$/ : /truncated segment at byte \d+$/);
      }
      expect(items).toEqual(expected.slice(0, itemsBefore[i]!));
    }
  });

  test("a flipped bit anywhere gives an error or the same items, never garbage", () => {
    const path = tmp();
    const events = sampleEvents(6);
    writeCapture(path, [...events, loss], { segmentEvents: 3 });
    const bytes = readFileSync(path);
    const expected = [header, ...events, loss];
    const flipped = tmp("flipped");
    let errors = 0;
    for (let pos = 0; pos < bytes.length; pos++) {
      for (const bit of [0x01, 0x10, 0x80]) {
        const copy = new Uint8Array(bytes);
        copy[pos]! ^= bit;
        writeFileSync(flipped, copy);
        const { items, error } = readAll(flipped);
        if (error === undefined) {
          expect(items).toEqual(expected);
        } else {
          errors++;
          expect(error instanceof DamagedInputError || error instanceof InputError).toBe(true);
          expect(isSubsequence(items, expected)).toBe(true);
        }
      }
    }
    expect(errors).toBeGreaterThan(bytes.length * 2);
  });

  test("a corrupt header frame is damage at byte 0, with nothing to show", () => {
    const path = tmp();
    writeCapture(path, sampleEvents(2));
    const bytes = new Uint8Array(readFileSync(path));
    const first = framesOf(bytes)[0]!;
    bytes[first.length - 1]! ^= 0xff; // its content checksum
    writeFileSync(path, bytes);
    const { items, error } = readAll(path);
    expect(items).toEqual([]);
    expect(error).toBeInstanceOf(DamagedInputError);
    expect((error as Error).message).toMatch(/corrupt header frame \(zstd: .*checksum.*\) at byte 0$/);
  });

  test("damage in one segment: the segments after it are still read, then the error names it", () => {
    const path = tmp();
    const events = sampleEvents(9);
    writeCapture(path, events, { segmentEvents: 3 });
    const bytes = new Uint8Array(readFileSync(path));
    const second = framesOf(bytes)[2]!;
    bytes[second.offset + second.length - 2]! ^= 0xff; // its content checksum
    writeFileSync(path, bytes);
    const { items, error } = readAll(path);
    expect(items).toEqual([header, ...events.slice(0, 3), ...events.slice(6)]);
    expect(error).toBeInstanceOf(DamagedInputError);
    expect((error as DamagedInputError).offset).toBe(second.offset);
    expect((error as Error).message).toMatch(/corrupt segment \(zstd: .*checksum.*\) at byte \d+$/);
  });

  test("garbage after the last frame, and a truncated skippable frame, are reported at their offset", () => {
    const path = tmp();
    writeCapture(path, sampleEvents(2));
    const size = statSync(path).size;
    appendFileSync(path, new Uint8Array(100));
    let r = readAll(path);
    expect(r.items.length).toBe(3);
    expect((r.error as DamagedInputError).offset).toBe(size);
    expect((r.error as Error).message).toMatch(/not a zstd frame \(magic 0x00000000\) at byte \d+$/);

    const path2 = tmp();
    writeCapture(path2, sampleEvents(2));
    appendFileSync(path2, skippableFrame(new Uint8Array(100)).subarray(0, 50));
    r = readAll(path2);
    expect(r.items.length).toBe(3);
    expect((r.error as Error).message).toMatch(/truncated skippable frame at byte \d+$/);
  });

  test("an ill-typed item: the items before it, the segments after it, then damage naming its segment", () => {
    const path = tmp();
    const good = makeEvent();
    rawCapture(path, [
      [header],
      [good, good],
      [good, { ...good, pid: "4242" }, good],
      [good, 42],
      [{ ...good, ts_ns: 1.5e18 }],
      [good],
    ]);
    const frames = framesOf(readFileSync(path));
    const { items, error } = readAll(path);
    expect(items).toEqual([header, good, good, good, good, good]);
    expect(error).toBeInstanceOf(DamagedInputError);
    expect((error as DamagedInputError).offset).toBe(frames[2]!.offset);
    expect((error as Error).message).toBe(
      `${path}: invalid item 2 in segment: key "pid": expected an unsigned 32-bit integer, got text (the first of 3 damaged places) at byte ${frames[2]!.offset}`,
    );
  });

  test("a frame that is not CBOR after the header", () => {
    const path = tmp();
    writeCapture(path, [makeEvent()]);
    appendFileSync(path, zstdCompress(new Uint8Array([0xa1, 0x61])));
    const r = readAll(path);
    expect(r.items.length).toBe(2);
    expect((r.error as Error).message).toMatch(/corrupt segment \(CBOR: .*\) at byte \d+$/);
  });

  /** A zstd frame of RLE blocks (128 KiB of zeros from 4 bytes each), optionally declaring a content size. */
  function rleFrame(blocks: number, declared?: bigint): Uint8Array {
    const head = [0x28, 0xb5, 0x2f, 0xfd];
    if (declared === undefined) {
      head.push(0x00, 0x58); // no content size, not single-segment; window 2 MiB
    } else {
      head.push(0xc0, 0x58); // 8-byte content size follows the window descriptor
      for (let i = 0n; i < 8n; i++) head.push(Number((declared >> (8n * i)) & 0xffn));
    }
    const out = [...head];
    for (let i = 0; i < blocks; i++) {
      const bh = (128 * 1024 * 8) | (1 << 1) | (i === blocks - 1 ? 1 : 0);
      out.push(bh & 0xff, (bh >> 8) & 0xff, (bh >> 16) & 0xff, 0x00);
    }
    return new Uint8Array(out);
  }

  test("a zstd bomb is stopped at the content limit, declared or not", () => {
    const bombFile = tmp("bomb.zst");
    writeFileSync(bombFile, rleFrame(640)); // 80 MiB from 2.5 KiB
    expect(run(["zstd", "-t", "-q", bombFile]).code).toBe(0); // a valid frame, not a malformed one

    for (const [frame, pattern] of [
      [rleFrame(640), /segment content exceeds the 67108864-byte limit at byte \d+$/],
      [rleFrame(2, 1n << 40n), /segment declares 1099511627776 bytes of content, over the 67108864-byte limit at byte \d+$/],
    ] as const) {
      const path = tmp();
      writeCapture(path, [makeEvent()]);
      appendFileSync(path, frame);
      const r = readAll(path);
      expect(r.items.length).toBe(2); // the segment before the bomb is still read
      expect((r.error as Error).message).toMatch(pattern);
    }
    const small = tmp();
    writeCapture(small, [makeEvent()]);
    appendFileSync(small, rleFrame(16));
    expect(String(readAll(small, { maxContentBytes: 1 << 20 }).error)).toMatch(/exceeds the 1048576-byte limit/);
  });

  test("a frame over the frame-size limit is refused without buffering it", () => {
    const path = tmp();
    writeCapture(path, []);
    appendFileSync(path, rleFrame(300_000)); // 1.2 MB of block headers
    const r = readAll(path, { maxFrameBytes: 1 << 20 });
    expect(r.items.length).toBe(1);
    expect((r.error as Error).message).toMatch(/segment larger than the 1048576-byte frame limit/);
  });
});

describe("versioning and independent writers", () => {
  test("unknown item types are skipped, unknown keys dropped, compact 64-bit values become bigint", () => {
    const path = tmp();
    const ev = makeEvent({ cgroup_id: 7n, duration_ns: 1n });
    // cborg writes minimal integers (7 in one byte), cbor-x would write 8 bytes.
    rawCapture(path, [
      [{ ...header, future_header_key: { nested: [1, 2] } }],
      [{ type: "aggregate", count: 5 }, { ...ev, future_key: "x" }, { type: "seal-v9" }],
    ]);
    const { items, error } = readAll(path);
    expect(error).toBeUndefined();
    expect(items).toEqual([header, ev]);
    expect(typeof (items[1] as DmrecEvent).cgroup_id).toBe("bigint");
  });

  test("32-bit fields written as 8-byte integers are read as numbers", () => {
    const path = tmp();
    const raw = new Encoder({ useRecords: false, tagUint8Array: false } as ConstructorParameters<typeof Encoder>[0]);
    const ev = makeEvent();
    rawCapture(path, [[header], [{ ...ev, pid: BigInt(ev.pid), flags: BigInt(ev.flags) }]], (v) => raw.encode(v));
    const { items, error } = readAll(path);
    expect(error).toBeUndefined();
    expect(items[1]).toEqual(ev);
  });

  test("skippable frames are skipped wherever they are", () => {
    const plain = tmp();
    const events = sampleEvents(4);
    writeCapture(plain, events, { segmentEvents: 2 });
    const bytes = readFileSync(plain);
    const frames = framesOf(bytes);
    const skip = (n: number) => skippableFrame(new Uint8Array(n).fill(0xee), 0x184d2a50 + (n % 16));
    const parts: Uint8Array[] = [skip(3)];
    for (const f of frames) parts.push(bytes.subarray(f.offset, f.offset + f.length), skip(f.offset % 64));
    parts.push(skippableFrame(new Uint8Array(3 << 20))); // larger than one read
    const path = tmp();
    writeFileSync(path, concat(parts));
    expect(readAll(path)).toEqual({ items: [header, ...events], error: undefined });
    expect(run(["zstd", "-t", "-q", path]).code).toBe(0);
    expect(run(["zstd", "-dc", path]).stdout).toEqual(run(["zstd", "-dc", plain]).stdout);
  });

  test("one frame holding everything, without checksum or content size (zstd CLI from a pipe)", () => {
    const path = tmp();
    const events = sampleEvents(5);
    writeCapture(path, events, { segmentEvents: 2 });
    const cbor = run(["zstd", "-dc", path]).stdout;
    const recompressed = run(["zstd", "-q", "--no-check", "-c", "-"], cbor).stdout;
    const [frame] = [...walkFrames(recompressed)];
    expect(frame).toMatchObject({ kind: "standard", hasChecksum: false });
    const other = tmp();
    writeFileSync(other, recompressed);
    expect(readAll(other)).toEqual({ items: [header, ...events], error: undefined });
  });
});

describe("interoperability", () => {
  const path = tmp();
  const items = [...sampleEvents(12), loss];
  writeCapture(path, items, { segmentEvents: 5 });

  test("the zstd CLI checks it and decompresses it to a CBOR sequence that cborg decodes to the same items", () => {
    expect(run(["zstd", "-t", "-q", path]).code).toBe(0);
    const out = run(["zstd", "-dc", path]);
    expect(out.code).toBe(0);
    const values: unknown[] = [];
    // cborg rejects any tag it does not know: this also proves there are none.
    for (let rest: Uint8Array = out.stdout; rest.length > 0; ) {
      const [value, remainder] = decodeFirst(rest);
      values.push(value);
      rest = remainder;
    }
    expect(values.map(canonical)).toEqual([header, ...items].map(canonical));
    // Text stays text, bytes stay bytes.
    const v1 = values[2] as Record<string, unknown>;
    expect(v1.comm).toBeInstanceOf(Uint8Array);
    expect(typeof (values[1] as Record<string, unknown>).comm).toBe("string");
    expect(v1.name_entry).toBeNull();
  });

  test("zstd -l lists one frame per segment plus the header, all with a checksum", () => {
    const out = new TextDecoder().decode(run(["zstd", "-l", path]).stdout);
    expect(out).toMatch(/^\s*4\s+0\s.*XXH64/m);
  });

  test("zstd-codec (zstd 1.3 in WebAssembly) decompresses every frame to the same bytes", async () => {
    const codec = await loadZstdCodecBackend();
    const bytes = readFileSync(path);
    const parts = framesOf(bytes).map((f) => codec.decompress(bytes.subarray(f.offset, f.offset + f.length), 1 << 20));
    expect(concat(parts)).toEqual(run(["zstd", "-dc", path]).stdout);
    // And its own frames (no checksum) are read back by node:zlib.
    const data = new TextEncoder().encode("dmrec ".repeat(1000));
    expect(new Uint8Array(zstd.decompress(codec.compress(data, 3), 1 << 20))).toEqual(data);
  });

  test("Deno reads what Bun wrote, and writes what Bun reads", () => {
    const denoOut = tmp("deno");
    const script = `
      import { readCapture } from "./src/capture/reader.ts";
      import { CaptureWriter } from "./src/capture/writer.ts";
      import { isDeno, isBun, zstd } from "./src/runtime.ts";
      const items = [...readCapture(${JSON.stringify(path)})];
      const w = CaptureWriter.create(${JSON.stringify(denoOut)}, items[0], { segmentEvents: 4 });
      for (const it of items.slice(1)) w.write(it);
      w.close();
      let truncated = "";
      try { for (const _ of readCapture(${JSON.stringify(path)}, { maxContentBytes: 10 })); } catch (e) { truncated = e.constructor.name; }
      console.log(JSON.stringify({ n: items.length, isDeno, isBun, backend: zstd.name, stats: w.stats, truncated }));
    `;
    const r = run([join(ROOT, "node_modules/.bin/deno"), "eval", "--ext=ts", script]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(new TextDecoder().decode(r.stdout))).toEqual({
      n: items.length + 1,
      isDeno: true,
      isBun: false,
      backend: "node:zlib",
      stats: { events: 12, losses: 1, segments: 4, bytes: statSync(denoOut).size },
      truncated: "DamagedInputError",
    });
    expect(statSync(denoOut).mode & 0o777).toBe(0o600);
    expect(readAll(denoOut)).toEqual({ items: [header, ...items], error: undefined });
    for (const f of framesOf(readFileSync(denoOut))) {
      expect(f).toMatchObject({ kind: "standard", hasChecksum: true });
      if (f.kind === "standard") expect(f.contentSize).not.toBeNull();
    }
  });
});

describe("frame walker", () => {
  test("cut magic numbers are truncated frames, other bytes are not frames", () => {
    expect(parseFrame(new Uint8Array([0x28, 0xb5]), 0, 100)).toEqual({ kind: "truncated", offset: 100, frame: "standard", needed: 4 });
    expect(parseFrame(new Uint8Array([0x5f, 0x2a, 0x4d]), 0)).toMatchObject({ kind: "truncated", frame: "skippable", needed: 8 });
    expect(parseFrame(new Uint8Array([0x5f, 0x2a, 0x4d, 0x18, 1, 0, 0]), 0)).toMatchObject({ kind: "truncated", needed: 8 });
    expect(parseFrame(new Uint8Array([0x5f, 0x2a, 0x4d, 0x18, 1, 0, 0, 0]), 0)).toMatchObject({ kind: "truncated", needed: 9 });
    expect(parseFrame(new Uint8Array([0x28, 0x00]), 0)).toMatchObject({ kind: "invalid" });
    expect(parseFrame(new Uint8Array([1, 2, 3, 4, 5]), 0)).toEqual({ kind: "invalid", offset: 0, problem: "not a zstd frame (magic 0x04030201)" });
  });

  test("a frame header's reserved bit and a reserved block type are invalid", () => {
    const frame = new Uint8Array(zstdCompress(new Uint8Array(10)));
    const reservedBit = new Uint8Array(frame);
    reservedBit[4]! |= 0x08;
    expect(parseFrame(reservedBit, 0)).toMatchObject({ kind: "invalid", problem: expect.stringContaining("reserved bit") });
    const f = parseFrame(frame, 0);
    expect(f).toMatchObject({ kind: "standard", length: frame.length, contentSize: 10n, hasChecksum: true });
    const headerLen = 4 + 1 + 1; // magic, descriptor, 1-byte content size (single segment)
    const reservedType = new Uint8Array(frame);
    reservedType[headerLen]! |= 0x06;
    expect(parseFrame(reservedType, 0)).toMatchObject({ kind: "invalid", problem: expect.stringContaining("reserved type") });
  });

  test("walkFrames stops at the first truncated frame and reports its offset", () => {
    const a = zstdCompress(new Uint8Array(1000));
    const b = zstdCompress(crypto.getRandomValues(new Uint8Array(1000)));
    const data = concat([a, skippableFrame(new Uint8Array(5)), b.subarray(0, b.length - 1)]);
    const frames = [...walkFrames(data, 10)];
    expect(frames.map((f) => f.kind)).toEqual(["standard", "skippable", "truncated"]);
    expect(frames[2]).toEqual({ kind: "truncated", offset: 10 + a.length + 13, frame: "standard", needed: b.length });
  });
});
