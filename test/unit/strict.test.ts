// The strict CBOR reader (src/capture/cbor.ts, schema.ts, items.ts): what
// docs/FORMAT.md does not allow is refused, in a data frame, the header, a
// trailer and the seal, by the reader, info and verify alike, each refusal
// naming the file, the segment and the byte. Every bad file is a real capture
// with one item changed in its CBOR, located by an independent decoder.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { encodeItem } from "../../src/capture/encode_checked.ts";
import { Cursor } from "../../src/capture/cbor.ts";
import { contentCursor, decodeItems } from "../../src/capture/items.ts";
import { MAX_ITEM_DEPTH } from "../../src/capture/limits.ts";
import { DamagedInputError } from "../../src/errors.ts";
import type { CaptureItem } from "../../src/event.ts";
import { captureInfo } from "../../src/info.ts";
import { zstd, zstdCompress } from "../../src/runtime.ts";
import { verifyCapture } from "../../src/verify/file.ts";
import { anatomy, concat, header, itemBytes, readAll, skippableFrame, slice, tempDir, valueAt, withPair, withValue, writeCapture } from "../support/captures.ts";
import { makeEvent } from "../support/events.ts";

const temp = tempDir("dmrec-strict-");
afterAll(temp.cleanup);

const utf8 = (s: string) => [...new TextEncoder().encode(s)];
const text = (s: string) => [0x60 | s.length, ...utf8(s)];
const events = Array.from({ length: 9 }, (_, i) => makeEvent({ pid: 100 + i, ts_ns: 1764118674000000000n + BigInt(i) }));

/** A real capture of three segments of three events, and its parts. */
function capture() {
  const path = temp.path();
  writeCapture(path, events, { segmentEvents: 3 });
  return { path, bytes: new Uint8Array(readFileSync(path)) };
}

/**
 * The capture with event 5 (segment 2's second item) changed by `mutate`,
 * segment 2 re-compressed in place (its trailer kept, so verify reads it).
 * Returns the file, where segment 2 starts, and where the change is in its content.
 */
function withItem(mutate: (item: Uint8Array) => { bytes: Uint8Array; at: number }) {
  const { bytes } = capture();
  const a = anatomy(bytes);
  const { data: seg, trailer } = a.segments[1]!;
  const [first, second, third] = events.slice(3, 6).map(itemBytes);
  const changed = mutate(second!);
  const content = concat([first!, changed.bytes, third!]);
  const path = temp.path();
  writeFileSync(path, concat([bytes.subarray(0, seg.offset), zstdCompress(content), bytes.subarray(seg.offset + seg.length)]));
  // Without the segment's trailer too: info then reads the segment instead of its index entry.
  const unindexed = temp.path();
  writeFileSync(unindexed, concat([bytes.subarray(0, seg.offset), zstdCompress(content), bytes.subarray(trailer.offset + trailer.length)]));
  return { path, unindexed, offset: seg.offset, at: first!.length + changed.at, content };
}

const replaced = (key: string, value: number[]) => (item: Uint8Array) => ({ bytes: withValue(item, key, value), at: valueAt(item, key).start });
/** A pair added at the end of the map: `at` is where its key starts (or, with `atValue`, its value). */
const added = (key: number[], value: number[], atValue = false) => (item: Uint8Array) => ({ bytes: withPair(item, key, value), at: item.length + (atValue ? key.length : 0) });

const cases: [string, (item: Uint8Array) => { bytes: Uint8Array; at: number }, string][] = [
  ["a half-precision float for an integer", replaced("pid", [0xf9, 0x3c, 0x00]), 'key "pid": expected an unsigned 32-bit integer, got float 1 (half precision)'],
  ["a single-precision float for an integer", replaced("uid", [0xfa, 0x3f, 0x80, 0x00, 0x00]), 'key "uid": expected an unsigned 32-bit integer, got float 1 (single precision)'],
  ["a double for a 64-bit integer", replaced("ts_ns", [0xfb, 0x43, 0xb8, 0x7b, 0x68, 0x96, 0x59, 0x67, 0x34]), 'key "ts_ns": expected a signed 64-bit integer, got float 1764118674000000000 (double precision)'],
  ["a tag 2 bignum for a 64-bit integer", replaced("boot_ns", [0xc2, 0x41, 0x05]), 'key "boot_ns": expected an unsigned 64-bit integer, got tag 2 (a bignum)'],
  ["a tag 3 bignum for a 64-bit integer", replaced("ts_ns", [0xc3, 0x41, 0x05]), 'key "ts_ns": expected a signed 64-bit integer, got tag 3 (a bignum)'],
  ["a tag anywhere, even in a key readers ignore", added(text("future"), [0xc1, 0x00], true), "CBOR: tag 1 (a capture holds no tags)"],
  ["a float in a key readers ignore", added(text("future"), [0xf9, 0x3c, 0x00], true), "CBOR: float 1 (half precision) (a capture holds no such value)"],
  ["a key given twice", added(text("pid"), [0x01]), 'CBOR: key "pid" given twice in one map'],
  ["an unknown key given twice", (item) => ({ bytes: withPair(withPair(item, text("x"), [0x01]), text("x"), [0x02]), at: item.length + 3 }), 'CBOR: key "x" given twice in one map'],
  ["a key that is not text", added([0x01], [0x02]), "CBOR: a map key that is integer 1, not text"],
  ["text that is not UTF-8", replaced("exe", [0x62, 0xff, 0xfe]), "CBOR: text that is not valid UTF-8"],
  ["a lone surrogate encoded in UTF-8", replaced("exe", [0x63, 0xed, 0xa0, 0x80]), "CBOR: text that is not valid UTF-8"],
  ["text that is not UTF-8 in a key readers ignore", added(text("x"), [0x61, 0xc3], true), "CBOR: text that is not valid UTF-8"],
  ["an indefinite-length string", replaced("comm", [0x7f, 0x61, 0x61, 0xff]), "CBOR: an indefinite length (a capture uses definite lengths only)"],
  ["an indefinite-length array", replaced("flags_names", [0x9f, 0xff]), "CBOR: an indefinite length (a capture uses definite lengths only)"],
  ["reserved additional information", replaced("pid", [0x1c]), "CBOR: reserved additional information 28 (a capture uses definite lengths only)"],
  ["undefined for text", replaced("errno", [0xf7]), 'key "errno": expected text, got undefined'],
  ["a 4-byte integer beyond a signed 32-bit field", replaced("name_entry_err", [0x1a, 0x80, 0x00, 0x00, 0x00]), 'key "name_entry_err": expected a signed 32-bit integer, got integer 2147483648'],
  ["a 4-byte integer for a process id beyond 2^32 - 1 (8 bytes)", replaced("pid", [0x1b, 0, 0, 0, 1, 0, 0, 0, 0]), 'key "pid": expected an unsigned 32-bit integer, got integer 4294967296'],
  ["a string running past the end of the frame", (item) => ({ bytes: withValue(item, "toctou_reason", [0x81, 0x7a, 0x7f, 0xff, 0xff, 0xff]), at: valueAt(item, "toctou_reason").start + 1 }), "CBOR: a string of 2147483647 bytes runs past the end of its frame"],
];

describe("strict CBOR: each refusal names the file, the segment and the byte", () => {
  for (const [what, mutate, problem] of cases) {
    test(what, () => {
      const { path, unindexed, offset, at } = withItem(mutate);
      // The reader: the items before the bad one, the segments after it, then the damage.
      const { items, error } = readAll(path);
      expect(items).toEqual([header, ...events.slice(0, 4), ...events.slice(6)]);
      expect(error).toBeInstanceOf(DamagedInputError);
      expect((error as Error).message).toBe(`${path}: invalid item 2 in segment 2 (content byte ${at}): ${problem} at byte ${offset}`);
      // info, which reads a segment without its trailer, and verify name the same place.
      expect(captureInfo(path).damage).toBeNull();
      expect(captureInfo(unindexed).damage).toEqual({ offset, problem: `invalid item 2 in segment 2 (content byte ${at}): ${problem}` });
      const v = verifyCapture(path);
      expect(v.kind).toBe("modified");
      expect(v.problems.map((p) => p.message)).toEqual([
        `${path}: segment 2 at byte ${offset}: does not match its hash: invalid item 2 in its data frame (content byte ${at}): ${problem}`,
      ]);
    });
  }

  test("the content byte named is the offending value's first byte", () => {
    const { at, content } = withItem(replaced("pid", [0xf9, 0x3c, 0x00]));
    expect(content[at]).toBe(0xf9);
    const dup = withItem(added(text("pid"), [0x01]));
    expect([...dup.content.subarray(dup.at, dup.at + 4)]).toEqual(text("pid"));
  });

  test("what is allowed still reads: integers of any width, keys in any order, unknown keys and types", () => {
    const ev = events[0]!;
    const bytes = itemBytes(ev);
    const widened = withValue(bytes, "pid", [0x1b, 0, 0, 0, 0, 0, 0, 0, 100]);
    const unknown = withPair(bytes, text("future"), [0xa1, ...text("k"), 0x82, 0xf5, 0x40]);
    const other = new Uint8Array([0xa2, ...text("x"), 0x01, ...text("type"), ...text("timezone")]);
    const got: CaptureItem[] = [...decodeItems(contentCursor(concat([widened, unknown, other])))];
    expect(got).toEqual([ev, ev]);
  });
});

// Short texts and byte strings are shared between the items that hold them (cbor.ts): a
// table slot comes from the length and three bytes, so these collide on purpose.
test("shared short texts and byte strings: values that share a table slot still read as themselves", () => {
  const latin1 = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
  const names = ["abcde", "axcye", "abcde", "a\u00e9cde"];
  const evs = names.map((n, i) =>
    makeEvent({ pid: 7 + i, comm: n, exe: `/x/${n}`, name: latin1(n.replace("\u00e9", "e")), name_entry: latin1(`${n}#`), name_kernel: i % 2 ? null : latin1("abcde") }),
  );
  const got = [...decodeItems(contentCursor(concat(evs.map(itemBytes))))];
  expect(got).toEqual(evs);
  // Equal bytes are one array; different bytes in the same slot are not.
  const [a, b] = got as typeof evs;
  expect(a!.name === a!.name_kernel).toBe(true);
  expect(a!.name === b!.name).toBe(false);
  expect([...b!.name!]).toEqual([...latin1("axcye")]);
});

// An event's runs of keys (schema.ts, mapOf) come from the event before when their bytes
// are the same: each item here is read after one that primes its runs, and must read, or
// fail, exactly as it does after an event that shares nothing with it.
describe("a run of keys given again by the event before", () => {
  const ev = makeEvent();
  const other = itemBytes(makeEvent({ ppid: 1, comm: "other", flags_names: [], name: null, name_entry: null, exe_inode: 99n, argv: null }));
  const fresh = itemBytes(ev);
  /** What `bytes` reads as after `prime`, in a cursor of `budget` data items and `depth` levels. */
  function after(prime: Uint8Array, bytes: Uint8Array, budget = 1 << 20, depth = MAX_ITEM_DEPTH) {
    [...decodeItems(contentCursor(prime))];
    try {
      return { items: [...decodeItems(new Cursor(bytes, 0, bytes.length, budget, depth))] };
    } catch (e) {
      return { error: (e as Error).message, at: (e as { at?: number }).at };
    }
  }
  /** The same after an event that primes its runs and after one that shares none of them. */
  const alike = (bytes: Uint8Array, budget?: number, depth?: number) => {
    const primed = after(fresh, bytes, budget, depth);
    expect(primed).toEqual(after(other, bytes, budget, depth));
    return primed;
  };

  test("the same bytes read as the same event; one byte changed within a run reads as changed", () => {
    expect(alike(fresh)).toEqual({ items: [ev] });
    // Given again, not decoded again: the very lists of the event before.
    const [a, b] = [...decodeItems(contentCursor(concat([fresh, fresh])))] as (typeof ev)[];
    expect(a!.flags_names).toBe(b!.flags_names);
    expect(a!.argv).toBe(b!.argv);
    // A run too long to be worth keeping (here 20 KiB of arguments) is decoded each time.
    const long = itemBytes(makeEvent({ argv: [new Uint8Array(20 << 10).fill(0x61)] }));
    const [c, d] = [...decodeItems(contentCursor(concat([long, long])))] as (typeof ev)[];
    expect(c).toEqual(d!);
    expect(c!.argv).not.toBe(d!.argv);
    expect(alike(withValue(fresh, "uid", [0x05]))).toEqual({ items: [{ ...ev, uid: 5 }] });
    expect(alike(withValue(fresh, "tty", [0x63, ...utf8("pts")]))).toEqual({ items: [{ ...ev, tty: "pts" }] });
  });

  test("a key of a run given before it, or after it, is a key given twice", () => {
    const n = fresh[1]!;
    const uidFirst = concat([new Uint8Array([0xb8, n + 1, ...text("uid"), 0x05]), fresh.subarray(2)]);
    const before = alike(uidFirst);
    expect(before.error).toBe('CBOR: key "uid" given twice in one map');
    const atEnd = alike(withPair(fresh, text("uid"), [0x05]));
    expect(atEnd.error).toBe('CBOR: key "uid" given twice in one map');
    expect(atEnd.at).toBe(fresh.length);
  });

  test("a map that ends within a run, and an unknown key within one, read as they would alone", () => {
    const ends = fresh.slice();
    // The same pairs but the last: the map says one pair fewer, and the bytes stop before tty.
    ends[1] = fresh[1]! - 1;
    const cut = ends.subarray(0, valueAt(fresh, "tty").start - text("tty").length);
    expect(alike(cut)).toEqual({ items: [{ ...ev, tty: null }] });
    const inside = withValue(fresh, "uid", [0x00, ...text("future"), 0x01]);
    inside[1] = fresh[1]! + 1;
    expect(alike(inside)).toEqual({ items: [ev] });
  });

  test("the frame's data items and depth are spent and checked as when decoded field by field", () => {
    const spent = 1 << 20;
    const c = new Cursor(fresh, 0, fresh.length, spent, MAX_ITEM_DEPTH);
    [...decodeItems(c)];
    const needs = spent - c.dataItems;
    expect(alike(fresh, needs)).toEqual({ items: [ev] });
    const short = alike(fresh, needs - 1);
    expect(short.error).toBe("CBOR: more data items than one frame may hold");
    // Past the head of argv, the last container of the event.
    expect(short.at).toBe(valueAt(fresh, "argv").start + 1);
    const shallow = alike(fresh, spent, 1);
    expect(shallow.error).toBe("CBOR: containers nested more than 1 deep");
  });
});

describe("strict CBOR in the header, a trailer and the seal", () => {
  test("the header: damage at byte 0 naming the key and the content byte", () => {
    const { bytes } = capture();
    const a = anatomy(bytes);
    const raw = encodeItem(header);
    const { start } = valueAt(raw, "set.file_index");
    const bad = withValue(raw, "set.file_index", [0xf9, 0x3c, 0x00]);
    const path = temp.path();
    writeFileSync(path, concat([zstdCompress(bad), bytes.subarray(a.header.length)]));
    const { items, error } = readAll(path);
    expect(items).toEqual([]);
    const problem = `invalid header (content byte ${start}): key "set.file_index": expected a positive 32-bit integer, got float 1 (half precision)`;
    expect((error as Error).message).toBe(`${path}: ${problem} at byte 0`);
    expect(() => captureInfo(path)).toThrow(`${path}: ${problem} at byte 0`);
    const v = verifyCapture(path);
    expect(v.problems[0]!.message).toBe(`${path}: header frame at byte 0: ${problem}`);
  });

  test("a trailer: verify names the segment, the trailer and the byte in the file; the reader reads the segment anyway", () => {
    const { bytes } = capture();
    const a = anatomy(bytes);
    const t = a.segments[0]!.trailer;
    const payload = slice(bytes, t).subarray(8);
    const info = payload.subarray(0, valueAt(payload, "modules_complete").end);
    const { start } = valueAt(info, "events");
    const bad = concat([withValue(info, "events", [0xfa, 0x40, 0x40, 0x00, 0x00]), payload.subarray(info.length)]);
    const path = temp.path();
    writeFileSync(path, concat([bytes.subarray(0, t.offset), skippableFrame(bad), bytes.subarray(t.offset + t.length)]));
    expect(readAll(path)).toEqual({ items: [header, ...events], error: undefined });
    const v = verifyCapture(path);
    expect(v.problems[0]!.message).toBe(
      `${path}: segment 1 at byte ${a.segments[0]!.data.offset}: its trailer at byte ${t.offset} is unreadable (CBOR: float 3 (single precision) (a capture holds no such value) (byte ${t.offset + 8 + start}))`,
    );
    // info counts the segment from its items instead.
    expect(captureInfo(path)).toMatchObject({ events: 9, indexedSegments: 2, index: "partial" });
  });

  test("the seal: a key given twice in its hash map is an unreadable dmrec frame, for verify and info", () => {
    const { bytes } = capture();
    const a = anatomy(bytes);
    const s = a.seal!;
    const payload = slice(bytes, s).subarray(8);
    const infoEnd = valueAt(payload, "signed_by").end;
    const hashMap = payload.subarray(infoEnd);
    const bad = concat([payload.subarray(0, infoEnd), withPair(hashMap, text("hash"), [0x40])]);
    const path = temp.path();
    writeFileSync(path, concat([bytes.subarray(0, s.offset), skippableFrame(bad)]));
    const where = s.offset + 8 + infoEnd + hashMap.length;
    const v = verifyCapture(path);
    expect(v.problems.map((p) => p.message)).toContain(`${path}: byte ${s.offset}: unreadable dmrec frame (CBOR: key "hash" given twice in one map (byte ${where}))`);
    expect(captureInfo(path)).toMatchObject({ sealed: false, warnings: [`an unreadable dmrec frame at byte ${s.offset}: CBOR: key "hash" given twice in one map (byte ${where})`] });
  });
});

test("the writer's own files pass: every fixture-like capture reads back exactly", () => {
  const { path, bytes } = capture();
  expect(readAll(path)).toEqual({ items: [header, ...events], error: undefined });
  expect(verifyCapture(path).kind).toBe("ok");
  // And the content of each data frame is exactly a sequence the strict decoder takes whole.
  for (const { data } of anatomy(bytes).segments) {
    const content = zstd.decompress(slice(bytes, data), 1 << 20);
    expect([...decodeItems(contentCursor(content))].length).toBe(3);
  }
});
