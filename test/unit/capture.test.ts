// The capture file: writer, reader, frame walker and codec, against each other.
// Integrity (verify, info) is in verify.test.ts, independent tools in
// interop.test.ts, random damage in fuzz.test.ts.
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeFirst, encode as cborgEncode } from "cborg";
import { Encoder } from "cbor-x";
import { InvalidItemError } from "../../src/capture/cbor.ts";
import { MAX_CONTENT_BYTES, MAX_ITEM_BYTES } from "../../src/capture/limits.ts";
import { decodeMeta } from "../../src/capture/items.ts";
import { CaptureWriter, MAX_SEGMENT_CONTENT, newCaptureSet, nextCaptureSet } from "../../src/capture/writer.ts";
import { DMREC_META_MAGIC, parseFrame, walkFrames } from "../../src/capture/zstd_frames.ts";
import { DamagedInputError, InputError, OutputError } from "../../src/errors.ts";
import type { AggregateRecord, CaptureHeader, DmrecEvent, SegmentInfo } from "../../src/event.ts";
import { zstd, zstdCompress } from "../../src/runtime.ts";
import { verifyCapture } from "../../src/verify/file.ts";
import {
  anatomy,
  concat,
  FIXED_NOW,
  framesOf,
  header,
  isSubsequence,
  loss,
  pinnedKeys,
  rawCapture,
  readAll,
  run,
  sampleAggregates,
  sampleEvents,
  skippableFrame,
  tempDir,
  writeCapture,
} from "../support/captures.ts";
import { latin1, makeAggregate, makeEvent } from "../support/events.ts";

const temp = tempDir("dmrec-capture-");
const dir = temp.dir;
afterAll(temp.cleanup);
const tmp = temp.path;

describe("round trip", () => {
  test("header, events, aggregates and a loss record come back equal, with their types", () => {
    const path = tmp();
    const aggregates = sampleAggregates();
    const items = [...sampleEvents(8), loss, ...aggregates];
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
    const wide = got[11] as AggregateRecord;
    expect([wide.count, wide.last_boot_ns, typeof wide.cgroup_id]).toEqual([2 ** 33 + 5, 2n ** 64n - 1n, "bigint"]);
    expect(got.at(-1)).toMatchObject({ scope: "all", pid: null, cgroup_id: null, name: null, ret: null });
    expect(w.stats).toEqual({
      events: 8,
      losses: 1,
      aggregates: aggregates.length,
      aggregatedCalls: aggregates.reduce((n, a) => n + a.count, 0),
      segments: 1,
      bytes: statSync(path).size,
    });
  });

  test("the header's budget comes back, null included", () => {
    for (const budget of [header.budget, null]) {
      const path = tmp();
      writeCapture(path, [], { header: { ...header, budget } });
      expect(readAll(path).items).toEqual([{ ...header, budget }]);
    }
  });

  test("counts past 32 bits stay integers: in items, trailers and the seal (cbor-x alone would write floats)", () => {
    const path = tmp();
    const big = 2 ** 40 + 3;
    writeCapture(path, [{ ...loss, count: big }, makeAggregate({ count: big }), makeAggregate({ count: big })]);
    expect(readAll(path)).toMatchObject({ items: [header, { count: big }, { count: big }, { count: big }], error: undefined });
    const bytes = readFileSync(path);
    const metas = framesOf(bytes)
      .filter((f) => f.kind === "skippable")
      .map((f) => decodeMeta(bytes.subarray(f.offset + 8, f.offset + f.length)));
    expect(metas.map((m) => m.type !== "unknown" && [m.info.lost_calls, m.info.aggregated_calls])).toEqual([
      [big, 2 * big],
      [big, 2 * big],
    ]);
    expect(verifyCapture(path).kind).toBe("ok");
  });

  test("a capture with no events is a header frame and a seal", () => {
    const path = tmp();
    writeCapture(path, []);
    expect(readAll(path)).toEqual({ items: [header], error: undefined });
    expect(framesOf(readFileSync(path)).map((f) => f.kind)).toEqual(["standard", "skippable"]);
  });

  test("segments are split by count: one zstd frame each and its trailer; the header alone in its frame; the seal last", () => {
    const path = tmp();
    // Aggregates and loss records count as items too.
    const events = [...sampleEvents(8), makeAggregate(), loss];
    const w = writeCapture(path, events, { segmentEvents: 3 });
    expect(w.stats.segments).toBe(4);
    const bytes = readFileSync(path);
    const frames = framesOf(bytes);
    expect(frames.map((f) => f.kind)).toEqual(["standard", ...Array(4).fill(["standard", "skippable"]).flat(), "skippable"]);
    expect(frames.reduce((n, f) => n + f.length, 0)).toBe(bytes.length);
    const perFrame = frames.map((f) => {
      if (f.kind === "skippable") {
        expect(f.magic).toBe(DMREC_META_MAGIC);
        return decodeMeta(bytes.subarray(f.offset + 8, f.offset + f.length)).type;
      }
      const content = zstd.decompress(bytes.subarray(f.offset, f.offset + f.length), 1 << 20);
      expect(f.contentSize).toBe(BigInt(content.length));
      let n = 0;
      for (let rest: Uint8Array = content; rest.length > 0; n++) rest = decodeFirst(rest)[1];
      return n;
    });
    expect(perFrame).toEqual([1, 3, "segment", 3, "segment", 3, "segment", 1, "segment", "seal"]);
    expect(readAll(path).items).toEqual([header, ...events]);
  });

  test("each trailer indexes its segment: counts, the events' time range and distinct module names", () => {
    const path = tmp();
    const a = latin1("a\xff");
    const events = [
      makeEvent({ ts_ns: 30n, name: a }),
      makeEvent({ ts_ns: 10n, name: latin1("b") }),
      makeEvent({ ts_ns: 20n, name: a }),
      makeEvent({ ts_ns: 40n, name: null, name_entry: null, name_exit: null, name_kernel: null }),
    ];
    // Aggregates count, but their times and names are not the index's: it describes events.
    const flood = makeAggregate({ ts_ns: 1n, last_ts_ns: 99n, name: latin1("flood"), count: 1000 });
    writeCapture(path, [...events, loss, { ...loss, count: 3 }, flood, makeEvent({ ts_ns: 5n }), { ...flood, scope: "all", count: 7 }, flood], {
      segmentEvents: 7,
    });
    const { segments } = anatomy(readFileSync(path));
    const infos = segments.map(({ trailer }) => {
      const meta = decodeMeta(readFileSync(path).subarray(trailer.offset + 8, trailer.offset + trailer.length));
      if (meta.type !== "segment") throw new Error(meta.type);
      return meta.info;
    });
    expect(infos).toEqual([
      {
        type: "segment",
        index: 1,
        events: 4,
        losses: 2,
        lost_calls: 20,
        aggregates: 1,
        aggregated_calls: 1000,
        clock_steps: 0,
        first_ts_ns: 10n,
        last_ts_ns: 40n,
        modules: [a, latin1("b")],
        modules_complete: true,
      },
      {
        type: "segment",
        index: 2,
        events: 1,
        losses: 0,
        lost_calls: 0,
        aggregates: 2,
        aggregated_calls: 1007,
        clock_steps: 0,
        first_ts_ns: 5n,
        last_ts_ns: 5n,
        modules: [latin1("dummy")],
        modules_complete: true,
      },
    ]);
  });

  test("the index lists at most 256 module names, and says when it is incomplete", () => {
    const path = tmp();
    const many = Array.from({ length: 300 }, (_, i) => makeEvent({ name: latin1(`m${i}`) }));
    const long = makeEvent({ name: new Uint8Array(300).fill(0x61) });
    writeCapture(path, [...many, ...many.slice(0, 3), long, makeEvent({ name: latin1("after") })], { segmentEvents: 300 });
    const bytes = readFileSync(path);
    const infos = anatomy(bytes).segments.map(({ trailer }) => decodeMeta(bytes.subarray(trailer.offset + 8, trailer.offset + trailer.length)));
    expect(infos.map((m) => m.type === "segment" && [m.info.modules.length, m.info.modules_complete])).toEqual([
      [256, false],
      [3, false],
    ]);
  });

  test("readCapture's skipSegment sees each index entry before the segment is decompressed", () => {
    const path = tmp();
    const events = Array.from({ length: 9 }, (_, i) => makeEvent({ ts_ns: BigInt(i), name: latin1(i < 6 ? "keep" : "drop") }));
    writeCapture(path, events, { segmentEvents: 3 });
    const seen: SegmentInfo[] = [];
    const { items, error } = readAll(path, {
      skipSegment: (info) => {
        seen.push(info);
        return info.index === 2;
      },
    });
    expect(error).toBeUndefined();
    expect(items).toEqual([header, ...events.slice(0, 3), ...events.slice(6)]);
    expect(seen.map((s) => [s.index, s.first_ts_ns, s.last_ts_ns, s.modules.map((m) => new TextDecoder().decode(m))])).toEqual([
      [1, 0n, 2n, ["keep"]],
      [2, 3n, 5n, ["keep"]],
      [3, 6n, 8n, ["drop"]],
    ]);
    // A corrupt skipped segment is not even looked at; an unreadable trailer means no skipping.
    const bytes = new Uint8Array(readFileSync(path));
    const { segments } = anatomy(bytes);
    bytes[segments[1]!.data.offset + 20]! ^= 0xff;
    bytes[segments[2]!.trailer.offset + 9]! ^= 0xff;
    writeFileSync(path, bytes);
    const offered: number[] = [];
    const r = readAll(path, { skipSegment: (info) => (offered.push(info.index), info.index <= 2) });
    expect(offered).toEqual([1, 2]);
    expect(r.error).toBeUndefined();
    expect(r.items).toEqual([header, ...events.slice(6)]);
  });

  test("a segment is also closed by size, so each stays decodable in one piece; an item over 1 MiB is refused", () => {
    const path = tmp();
    const big = makeEvent({ name_kernel: new Uint8Array(MAX_ITEM_BYTES - 1024).fill(0x61) });
    const n = Math.ceil((2 * MAX_SEGMENT_CONTENT) / MAX_ITEM_BYTES) + 1;
    const w = writeCapture(path, Array.from({ length: n }, () => big));
    expect(w.stats.segments).toBeGreaterThanOrEqual(3);
    for (const f of framesOf(readFileSync(path))) {
      if (f.kind === "standard") expect(Number(f.contentSize)).toBeLessThanOrEqual(MAX_SEGMENT_CONTENT);
    }
    expect(readAll(path).items.length).toBe(n + 1);
    expect(MAX_CONTENT_BYTES).toBeGreaterThanOrEqual(MAX_SEGMENT_CONTENT + MAX_ITEM_BYTES);
    const w2 = CaptureWriter.create(tmp(), header);
    expect(() => w2.write(makeEvent({ name_kernel: new Uint8Array(MAX_ITEM_BYTES) }))).toThrow(/an item of \d+ bytes, over the 1048576-byte limit of one item/);
    w2.write(makeEvent());
    expect(w2.stats.events).toBe(0);
    w2.close();
    expect(w2.stats).toMatchObject({ events: 1, segments: 1 });
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

  test("an ill-typed item is refused at write time, and nothing of it is written", () => {
    const path = tmp();
    const w = CaptureWriter.create(path, header, { newKey: pinnedKeys() });
    const size = statSync(path).size;
    const good = [makeEvent({ pid: 1 }), loss, makeAggregate({ pid: 2 })];
    w.write(good[0]!);
    expect(() => w.write(makeEvent({ pid: "1" as unknown as number }))).toThrow(InvalidItemError);
    expect(() => w.write(makeEvent({ ts_ns: 1.5 as unknown as bigint }))).toThrow(/key "ts_ns": expected a signed 64-bit integer, got float 1.5/);
    // Refused halfway through its keys: what it had written is taken back.
    expect(() => w.write(makeAggregate({ toctou_reason: ["entry!=exit", "nonsense" as "entry!=exit"] }))).toThrow(/key "toctou_reason\[1\]"/);
    expect(() => w.write({ ...loss, reason: "full" as "ringbuf_full" })).toThrow(/key "reason": expected "ringbuf_full" or "inflight_full" or "no_exit", got text/);
    w.write(good[1]!);
    w.write(good[2]!);
    expect(statSync(path).size).toBe(size);
    w.close();
    expect(readAll(path)).toEqual({ items: [header, ...good], error: undefined });
    expect(w.stats).toMatchObject({ events: 1, losses: 1, aggregates: 1, segments: 1 });
    expect(() => w.write(makeEvent())).toThrow(/already closed/);
    const bad = tmp();
    expect(() => CaptureWriter.create(bad, { ...header, host: undefined } as unknown as CaptureHeader)).toThrow(/missing key "host"|key "host"/);
    expect(() => CaptureWriter.create(bad, { ...header, set: { ...header.set, prev_file_hash: new Uint8Array(31) } })).toThrow(
      /key "set.prev_file_hash": expected a 32-byte byte string/,
    );
    expect(existsSync(bad)).toBe(false);
  });

  test("close() seals and returns the final hash; abandon() leaves no seal", () => {
    const sealed = tmp();
    const w = CaptureWriter.create(sealed, header, { segmentEvents: 2 });
    expect(w.finalHash).toBeUndefined();
    w.write(makeEvent());
    const { finalHash } = w.close();
    expect(finalHash.length).toBe(32);
    expect(w.finalHash).toEqual(finalHash);
    expect(w.close()).toEqual({ finalHash }); // again: the same
    expect(() => w.write(makeEvent())).toThrow(/already closed/);
    w.abandon(); // nothing after close
    expect(anatomy(readFileSync(sealed)).seal).not.toBeNull();
    expect(verifyCapture(sealed).finalHash).toEqual(finalHash);

    const crashed = tmp();
    const a = CaptureWriter.create(crashed, header, { segmentEvents: 2, newKey: pinnedKeys() });
    for (const ev of sampleEvents(3)) a.write(ev);
    a.abandon(); // writes the open segment, not the seal
    const parts = anatomy(readFileSync(crashed));
    expect([parts.segments.length, parts.seal]).toEqual([2, null]);
    expect(readAll(crashed)).toEqual({ items: [header, ...sampleEvents(3)], error: undefined });
    expect(() => a.close()).toThrow(/closed without a seal/);
    expect(verifyCapture(crashed).kind).toBe("unsealed");
  });

  test("a deterministic writer: the same items, header and clock give the same bytes", () => {
    const [p1, p2] = [tmp(), tmp()];
    for (const p of [p1, p2]) writeCapture(p, sampleEvents(7), { segmentEvents: 3, nowNs: FIXED_NOW });
    expect(readFileSync(p1)).toEqual(readFileSync(p2));
  });

  test("newCaptureSet and nextCaptureSet chain the files of a set", () => {
    const first = newCaptureSet();
    expect(first).toMatchObject({ file_index: 1, prev_file_hash: null });
    expect(first.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(newCaptureSet().id).not.toBe(first.id);
    const hash = new Uint8Array(32).fill(7);
    expect(nextCaptureSet(first, hash)).toEqual({ id: first.id, file_index: 2, prev_file_hash: hash });
  });

  test("a signKey that is not an Ed25519 private key is refused before the file is created", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const path = tmp();
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey;
    const ed = generateKeyPairSync("ed25519");
    expect(() => CaptureWriter.create(path, header, { signKey: rsa })).toThrow(/must be an Ed25519 private key, got a rsa private key/);
    expect(() => CaptureWriter.create(path, header, { signKey: ed.publicKey })).toThrow(/got a ed25519 public key/);
    expect(existsSync(path)).toBe(false);
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
    CaptureWriter.create(path, header, { force: true, newKey: pinnedKeys() }).close();
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
      const w = CaptureWriter.create(path, header, { segmentEvents: 2, newKey: pinnedKeys() });
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
      // Each segment went out whole with its trailer, so the chain holds up to the cut.
      const v = verifyCapture(path);
      expect(v.kind).toBe("unsealed");
      expect(v.intact).toMatchObject({ segments: stats.segments, events: stats.events, endOffset: stats.bytes });
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
    rawCapture(path, [[{ ...header, version: 3, host: "changed in v3" }], [makeEvent()]]);
    expectInputError(path, /capture format version 3 is not supported \(this dmrec reads versions 1 and 2\)/);
  });

  test("a header with a missing or ill-typed key is damage at byte 0", () => {
    const path = tmp();
    const { argv: _argv, ...noArgv } = header;
    rawCapture(path, [[noArgv], [makeEvent()]]);
    const { items, error } = readAll(path);
    expect(items).toEqual([]);
    expect(error).toBeInstanceOf(DamagedInputError);
    expect((error as DamagedInputError).offset).toBe(0);
    expect((error as Error).message).toMatch(/invalid header \(content byte 0\): missing key "argv" at byte 0$/);
  });

  test("truncated anywhere: the intact prefix, then DamagedInputError at the cut frame", () => {
    const full = tmp();
    const events = sampleEvents(7);
    writeCapture(full, events, { segmentEvents: 3 });
    const bytes = readFileSync(full);
    const frames = framesOf(bytes);
    const expected = [header, ...events];
    // Items in the standard frames that end at or before a cut: 1 (header), 3, 3, 1.
    const data = frames.filter((f) => f.kind === "standard");
    const counts = [1, 3, 3, 1];
    const itemsUpTo = (cut: number) => data.reduce((n, f, i) => n + (f.offset + f.length <= cut ? counts[i]! : 0), 0);
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
        const what = i === 0 ? "header frame" : frame.kind === "standard" ? "segment" : i === frames.length - 1 ? "seal" : "segment trailer";
        expect((error as Error).message).toMatch(new RegExp(`truncated ${what} at byte ${frame.offset}$`));
      }
      expect(items).toEqual(expected.slice(0, itemsUpTo(cut)));
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
    // Flips in trailers and the seal change no item: verify.test.ts catches those.
    const dataBytes = framesOf(bytes).filter((f) => f.kind === "standard").reduce((n, f) => n + f.length, 0);
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
    expect(errors).toBeGreaterThan(dataBytes * 2);
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
    const second = anatomy(bytes).segments[1]!.data;
    bytes[second.offset + second.length - 2]! ^= 0xff; // its content checksum
    writeFileSync(path, bytes);
    const { items, error } = readAll(path);
    expect(items).toEqual([header, ...events.slice(0, 3), ...events.slice(6)]);
    expect(error).toBeInstanceOf(DamagedInputError);
    expect((error as DamagedInputError).offset).toBe(second.offset);
    expect((error as Error).message).toMatch(/corrupt segment 2 \(zstd: .*checksum.*\) at byte \d+$/);
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
    appendFileSync(path2, skippableFrame(new Uint8Array(100), 0x184d2a5a).subarray(0, 50));
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
      `${path}: invalid item 2 in segment 2 (content byte 658): key "pid": expected an unsigned 32-bit integer, got text (the first of 3 damaged places) at byte ${frames[2]!.offset}`,
    );
  });

  test("a frame that is not CBOR after the header", () => {
    const path = tmp();
    writeCapture(path, [makeEvent()]);
    appendFileSync(path, zstdCompress(new Uint8Array([0xa1, 0x61])));
    const r = readAll(path);
    expect(r.items.length).toBe(2);
    expect((r.error as Error).message).toMatch(/invalid item 1 in segment 2 \(content byte 0\): CBOR: 1 pair cannot fit in what is left of the frame at byte \d+$/);
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
      [rleFrame(640), new RegExp(`segment 2: content exceeds the ${MAX_CONTENT_BYTES}-byte limit at byte \\d+$`)],
      [rleFrame(2, 1n << 40n), new RegExp(`segment 2: declares 1099511627776 bytes of content, over the ${MAX_CONTENT_BYTES}-byte limit at byte \\d+$`)],
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
    expect((r.error as Error).message).toMatch(/segment 1 larger than the 1048576-byte frame limit at byte \d+$/);
  });
});

describe("versioning and independent writers", () => {
  test("unknown item types are skipped, unknown keys dropped, compact 64-bit values become bigint", () => {
    const path = tmp();
    const ev = makeEvent({ cgroup_id: 7n, duration_ns: 1n });
    const agg = makeAggregate({ boot_ns: 3n, cap_effective: 0n });
    // cborg writes minimal integers (7 in one byte), cbor-x would write 8 bytes.
    rawCapture(path, [
      [{ ...header, future_header_key: { nested: [1, 2] }, budget: { ...header.budget, future_budget: 1 } }],
      [{ type: "timezone", step_ns: 5 }, { ...ev, future_key: "x" }, { ...agg, future_key: [] }, { type: "seal-v9" }],
    ]);
    const { items, error } = readAll(path);
    expect(error).toBeUndefined();
    expect(items).toEqual([header, ev, agg]);
    expect(typeof (items[1] as DmrecEvent).cgroup_id).toBe("bigint");
    expect(typeof (items[2] as AggregateRecord).boot_ns).toBe("bigint");
  });

  test("a file written before budgets and aggregates: its header reads budget null, its trailers and seal 0 aggregates", () => {
    const path = tmp();
    const { budget: _budget, ...before } = header;
    rawCapture(path, [[before], [makeEvent()]]);
    expect(readAll(path)).toEqual({ items: [{ ...header, budget: null }, makeEvent()], error: undefined });
    // Their info maps without the two keys, as a version 1 writer of before wrote them.
    const older = tmp();
    writeCapture(older, [makeEvent(), loss]);
    const bytes = readFileSync(older);
    for (const f of framesOf(bytes).filter((x) => x.kind === "skippable")) {
      const payload = bytes.subarray(f.offset + 8, f.offset + f.length);
      const m = decodeMeta(payload);
      if (m.type === "unknown") throw new Error("unknown");
      const { aggregates: _a, aggregated_calls: _c, ...info } = m.info;
      const old = decodeMeta(concat([cborgEncode(info), payload.subarray(m.infoRaw.length)]));
      expect(old).toMatchObject({ info: { ...info, aggregates: 0, aggregated_calls: 0 } });
    }
  });

  test("an aggregate with a missing or ill-typed key is damage, like an event", () => {
    const path = tmp();
    const { scope: _scope, ...noScope } = makeAggregate();
    rawCapture(path, [[header], [makeAggregate(), noScope], [{ ...makeAggregate(), count: -1 }], [makeAggregate({ pid: null })]]);
    const { items, error } = readAll(path);
    expect(items).toEqual([header, makeAggregate(), makeAggregate({ pid: null })]);
    expect((error as Error).message).toMatch(/invalid item 2 in segment 1 \(content byte \d+\): missing key "scope" \(the first of 2 damaged places\) at byte \d+$/);
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

describe("frame walker", () => {
  test("cut magic numbers are truncated frames, other bytes are not frames", () => {
    expect(parseFrame(new Uint8Array([0x28, 0xb5]), 0, 100)).toEqual({ kind: "truncated", offset: 100, frame: "standard", needed: 4 });
    expect(parseFrame(new Uint8Array([0x5f, 0x2a, 0x4d]), 0)).toMatchObject({ kind: "truncated", frame: "skippable", needed: 8 });
    expect(parseFrame(new Uint8Array([0x5f, 0x2a, 0x4d, 0x18, 1, 0, 0]), 0)).toMatchObject({ kind: "truncated", needed: 8 });
    expect(parseFrame(new Uint8Array([0x5f, 0x2a, 0x4d, 0x18, 1, 0, 0, 0]), 0)).toMatchObject({ kind: "truncated", needed: 9 });
    expect(parseFrame(new Uint8Array([0x28, 0x00]), 0)).toMatchObject({ kind: "invalid", notZstd: true });
    expect(parseFrame(new Uint8Array([1, 2, 3, 4, 5]), 0)).toEqual({ kind: "invalid", offset: 0, problem: "not a zstd frame (magic 0x04030201)", notZstd: true });
  });

  test("a frame header's reserved bit and a reserved block type are invalid", () => {
    const frame = new Uint8Array(zstdCompress(new Uint8Array(10)));
    const reservedBit = new Uint8Array(frame);
    reservedBit[4]! |= 0x08;
    expect(parseFrame(reservedBit, 0)).toMatchObject({ kind: "invalid", problem: expect.stringContaining("reserved bit"), notZstd: false });
    const f = parseFrame(frame, 0);
    expect(f).toMatchObject({ kind: "standard", length: frame.length, contentSize: 10n, hasChecksum: true });
    const headerLen = 4 + 1 + 1; // magic, descriptor, 1-byte content size (single segment)
    const reservedType = new Uint8Array(frame);
    reservedType[headerLen]! |= 0x06;
    expect(parseFrame(reservedType, 0)).toMatchObject({ kind: "invalid", problem: expect.stringContaining("reserved type"), notZstd: false });
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
