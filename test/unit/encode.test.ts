// The fast segment-item encoder (src/capture/encode.ts) against everything
// that could tell it wrong: the reader's strict decoder, the checked
// cbor-x encoder it replaced (byte for byte), the independent cborg decoder,
// the format's rules on heads, and the reader's refusals, on edge cases and
// seeded random items of every type. DMREC_ENCODE_SEED reproduces a run.
import { afterAll, describe, expect, test } from "bun:test";
import { SegmentEncoder } from "../../src/capture/encode.ts";
import { encodeItem } from "../../src/capture/encode_checked.ts";
import { contentCursor, decodeItems } from "../../src/capture/items.ts";
import { ITEM_KEYS, toCaptureItem } from "../../src/capture/schema.ts";
import type { CaptureItem, LossRecord, SegmentItem } from "../../src/event.ts";
import { verifyCapture } from "../../src/verify/file.ts";
import {
  canonical,
  cborHeads,
  cborgSequence,
  header,
  hex,
  isShortest,
  loss,
  randomItems,
  readAll,
  rng,
  sampleAggregates,
  sampleEvents,
  tempDir,
  writeCapture,
} from "../support/captures.ts";
import { latin1, makeAggregate, makeEvent } from "../support/events.ts";

const SEED = Number(process.env.DMREC_ENCODE_SEED ?? 0xc0ffee);
/** About a thousand of each type. */
const RANDOM = 3000;

const temp = tempDir("dmrec-encode-");
afterAll(temp.cleanup);

/** Text whose UTF-8 length is on either side of a head-size boundary while its length in characters is not. */
const boundaryTexts = [
  "é".repeat(11), // 22 bytes: a 1-byte head
  "é".repeat(12), // 24 bytes, 12 characters: a 2-byte head
  "x".repeat(23),
  "x".repeat(24),
  "€".repeat(85), // 255 bytes
  "€".repeat(86), // 258 bytes, 86 characters: a 3-byte head
  "😀".repeat(16), // 64 bytes, 32 UTF-16 units: on the hand-encoding threshold
  "a".repeat(63) + "é",
  "/".repeat(65535),
  "/".repeat(65536), // a 5-byte head
  "€".repeat(21846), // 65538 bytes from 21846 characters
  "",
];

const edgeItems: SegmentItem[] = [
  ...sampleEvents(8),
  ...boundaryTexts.map((t, i) => makeEvent({ pid: i, exe: t, comm: t, flags_names: [t, "O_TRUNC"] })),
  makeEvent({ exe: "/opt/ünïcødé/漢字/🐧/rmmod", container_id: "c".repeat(64), comm: "rmmöd", parent_comm: latin1("sh\xff") }),
  makeEvent({ flags_names: [], toctou_reason: [], name_kernel: new Uint8Array(0), name: new Uint8Array(0) }),
  makeEvent({ name_kernel: new Uint8Array(300).fill(0x61), name: new Uint8Array(70000).fill(0x62) }),
  makeEvent({ toctou: true, toctou_reason: ["entry!=exit", "entry!=kernel", "exit!=kernel"], freed: null, ret: Number.MIN_SAFE_INTEGER, errno: "E".repeat(30) }),
  makeEvent({ ret: Number.MAX_SAFE_INTEGER, flags: 2 ** 32 - 1, name_entry_err: -(2 ** 31), name_exit_err: 2 ** 31 - 1, name_entry: null, name_exit: null }),
  makeEvent({ ts_ns: -1n, boot_ns: 24n, duration_ns: 2n ** 32n, cap_effective: 2n ** 64n - 1n, name_ptr: 0n }),
  loss,
  { type: "loss", ts_ns: -(2n ** 63n), count: 0, reason: "no_exit" },
  { type: "loss", ts_ns: 2n ** 63n - 1n, count: Number.MAX_SAFE_INTEGER, reason: "inflight_full" },
  { type: "loss", ts_ns: 0n, count: 2 ** 32, reason: "ringbuf_full" },
  ...sampleAggregates(),
];
const randomSet = randomItems(rng(SEED), RANDOM);

function fast(item: SegmentItem): Uint8Array {
  const e = new SegmentEncoder();
  e.append(item);
  return e.contents().slice();
}

/** A CBOR sequence as the reader decodes a segment's content. */
function readBack(bytes: Uint8Array): CaptureItem[] {
  return [...decodeItems(contentCursor(bytes))];
}

/** The 64-bit fields, written with an 8-byte argument whatever their value. */
const WIDE = new Set([
  "ts_ns", "last_ts_ns", "boot_ns", "last_boot_ns", "duration_ns", "cgroup_id", "cap_effective", "name_ptr", "exe_inode",
  "prev_boot_ns", "old_boot_to_wall_ns", "boot_to_wall_ns",
]);

/**
 * Why the heads of this CBOR sequence break the format's rules, or null: a
 * tag, a float, an indefinite length, a 64-bit field without its 8-byte
 * argument, or any other integer or length not in its shortest form.
 */
function headProblem(b: Uint8Array): string | null {
  for (const h of cborHeads(b)) {
    const at = `at byte ${h.offset}`;
    if (h.major === 6) return `a tag ${at}`;
    if (h.ai > 27) return `additional information ${h.ai} ${at}`;
    if (h.major === 7) {
      if (h.ai >= 24) return `a float or simple value ${h.ai} ${at}`;
      continue;
    }
    const wide = h.key !== undefined && WIDE.has(h.key) && h.major <= 1;
    if (wide && h.ai !== 27) return `"${h.key}" without an 8-byte argument ${at}`;
    if (!wide && !isShortest(h)) return `${h.arg} not in its shortest form (additional information ${h.ai}) ${at}`;
  }
  return null;
}

/** Checks one item every way; returns what is wrong, or null. */
function wrongWith(item: SegmentItem): string | null {
  const bytes = fast(item);
  const back = readBack(bytes);
  if (back.length !== 1) return `${back.length} items decoded`;
  if (!Bun.deepEquals(back[0], item, true)) return "the reader's decoder does not give the item back";
  const theirs = cborgSequence(bytes);
  if (theirs.length !== 1 || !Bun.deepEquals(canonical(theirs[0]), canonical(item), true)) return "cborg decodes other values";
  if (Object.keys(theirs[0] as object).join() !== ITEM_KEYS[item.type].join()) return `keys in another order: ${Object.keys(theirs[0] as object).join()}`;
  const heads = headProblem(bytes);
  if (heads) return heads;
  // cbor-x writes every head in its shortest form (its string heads too: it
  // sizes them from the UTF-16 length, which UTF-8 never undercuts, and
  // moves the text when it needs more), so the bytes must be identical.
  const checked = encodeItem(item);
  if (hex(bytes) !== hex(checked)) return `bytes differ from the checked encoder's:\n  fast    ${hex(bytes)}\n  checked ${hex(checked)}`;
  return null;
}

function expectAllRight(items: SegmentItem[], what: string) {
  const wrong: string[] = [];
  items.forEach((item, i) => {
    const w = wrongWith(item);
    if (w) wrong.push(`${what} ${i} (${item.type}): ${w}`);
  });
  expect(wrong.slice(0, 5)).toEqual([]);
}

describe("the fast encoding", () => {
  test("edge cases: decodes to the item (the reader, cborg), keeps the format's heads, and is the checked encoder's bytes", () => {
    expect(new Set(edgeItems.map((i) => i.type))).toEqual(new Set(["event", "loss", "aggregate"]));
    expectAllRight(edgeItems, "edge case");
  });

  test(`${RANDOM} seeded random items (seed ${SEED}): the same`, () => {
    const perType = (t: string) => randomSet.filter((i) => i.type === t).length;
    expect([perType("event"), perType("loss"), perType("aggregate"), perType("clock")].every((n) => n > RANDOM / 5)).toBe(true);
    expectAllRight(randomSet, `random item (seed ${SEED})`);
  });

  test("the checks would catch a wrong encoder: a non-shortest head, a 64-bit field written short", () => {
    const bytes = fast(loss);
    const countAt = Buffer.from(bytes).indexOf(Buffer.from("65636f756e74", "hex")) + 6; // after "count"
    const widened = new Uint8Array([...bytes.subarray(0, countAt), 0x18, bytes[countAt]!, ...bytes.subarray(countAt + 1)]);
    expect(headProblem(widened)).toMatch(/^17 not in its shortest form/);
    expect(headProblem(new Uint8Array([0xa1, 0x65, ...new TextEncoder().encode("ts_ns"), 0x01]))).toMatch(/"ts_ns" without an 8-byte argument/);
    expect(headProblem(new Uint8Array([0xfb, 0, 0, 0, 0, 0, 0, 0, 0]))).toMatch(/a float/);
    expect(headProblem(bytes)).toBeNull();
  });

  test("a lone surrogate, which UTF-8 cannot hold, is written as U+FFFD (cbor-x would write bytes that are not UTF-8)", () => {
    const bytes = fast(makeEvent({ exe: "a\ud800b", comm: "\udc00" }));
    const [ours] = readBack(bytes) as { exe: string; comm: string }[];
    expect([ours!.exe, ours!.comm]).toEqual(["a\ufffdb", "\ufffd"]);
    const [theirs] = cborgSequence(bytes) as { exe: string }[];
    expect(theirs!.exe).toBe("a\ufffdb");
    expect(headProblem(bytes)).toBeNull();
  });

  test("items appended one after the other form the CBOR sequence; the buffer grows and discard() keeps what follows", () => {
    const e = new SegmentEncoder();
    const items = [...edgeItems, ...randomSet.slice(0, 500)];
    for (const item of items) e.append(item);
    expect(e.length).toBeGreaterThan(1 << 20);
    expect(readBack(e.contents())).toEqual(items);
    const first = fast(items[0]!).length;
    e.discard(first);
    expect(readBack(e.contents())).toEqual(items.slice(1));
    e.discard(e.length);
    expect(e.length).toBe(0);
    e.append(loss);
    expect(hex(e.contents())).toBe(hex(fast(loss)));
  });
});

test("an item may start anywhere near the buffer's end: its first bytes survive the growth", () => {
  // Found by a real recording: an item that began within its first few bytes of the
  // buffer's end (64 KiB at first) lost them (its type read as NULs) as the buffer grew.
  const BUFFER = 64 * 1024;
  const padding = (size: number) => {
    for (let len = 1; len < 4096; len++) {
      // Bytes reserve exactly their length (text reserves for the worst UTF-8): no early growth.
      const ev = makeEvent({ name_entry: latin1("x".repeat(len)) });
      if (fast(ev).length === size) return ev;
    }
    throw new Error(`no padding event of ${size} bytes`);
  };
  const filler = makeEvent();
  for (const item of [makeEvent(), { ...loss }, makeAggregate()] as SegmentItem[]) {
    for (let short = 0; short <= 20; short++) {
      const e = new SegmentEncoder();
      const n = Math.floor(BUFFER / fast(filler).length) - 2;
      for (let i = 0; i < n; i++) e.append(filler);
      e.append(padding(BUFFER - short - e.length));
      expect(e.length).toBe(BUFFER - short);
      e.append(item);
      const out = readBack(e.contents());
      expect(out.length).toBe(n + 2);
      expect(out.at(-1)).toEqual(item);
    }
  }
});

/** Keys added within version 2 (src/event.ts ProcessImage): absent in older files. */
const IMAGE_KEYS = new Set(["exe_inode", "exe_dev", "exe_deleted", "exe_truncated", "exe_unreachable", "parent_exe", "argv", "argv_err", "argv_truncated", "tty"]);

describe("refusals", () => {
  // Values of every wrong kind, for every key: the encoder must refuse what
  // the reader refuses, in the same words, and keep nothing of the item.
  const BAD: unknown[] = ["1", "", 1.5, -1, 2 ** 31, 2 ** 32, 2 ** 53, Number.NaN, null, true, 5n, -1n, 2n ** 64n, [], ["x", 1], ["bogus"], {}, new Uint8Array(2), "kprobe", "call"];
  const MISSING = Symbol("missing");
  const bases: SegmentItem[] = [makeEvent(), loss, makeAggregate(), sampleAggregates()[4]!];

  test("every key, every wrong value: refused exactly when the reader refuses, with its message; what it accepts reads back", () => {
    const e = new SegmentEncoder();
    const stricter = new Set<string>();
    let refused = 0;
    for (const base of bases) {
      for (const key of ITEM_KEYS[base.type].filter((k) => k !== "type")) {
        for (const bad of [...BAD, MISSING]) {
          const mutant: Record<string, unknown> = { ...base };
          if (bad === MISSING) delete mutant[key];
          else mutant[key] = bad;
          const what = `${base.type}.${key} = ${bad === MISSING ? "(missing)" : typeof bad === "bigint" ? `${bad}n` : JSON.stringify(bad)}`;
          const verdict = (f: () => unknown) => {
            try {
              f();
              return null;
            } catch (err) {
              return (err as Error).message;
            }
          };
          const reader = verdict(() => toCaptureItem(mutant));
          const before = e.length;
          const encoder = verdict(() => e.append(mutant as unknown as SegmentItem));
          if (reader !== null) {
            refused++;
            expect([what, encoder]).toEqual([what, reader]);
            expect([what, e.length]).toEqual([what, before]);
          } else if (encoder === null) {
            const back = readBack(e.contents().subarray(before));
            expect([what, back]).toEqual([what, [toCaptureItem(mutant)!]]);
          } else {
            // The reader also takes an integer of the other representation (it normalizes), and
            // the absence of a key added within the version (an older file's); the writer takes
            // the declared one, and writes every key.
            expect([what, typeof bad === "bigint" || typeof bad === "number" || (bad === MISSING && IMAGE_KEYS.has(key))]).toEqual([what, true]);
            expect([what, e.length]).toEqual([what, before]);
            stricter.add(what);
          }
        }
      }
    }
    expect(refused).toBeGreaterThan(1000);
    expect([...stricter]).toContain("event.pid = 5n");
    expect([...stricter]).toContain("loss.count = 5n");
  });

  test("an item of another type is refused", () => {
    const e = new SegmentEncoder();
    expect(() => e.append({ type: "header" } as unknown as SegmentItem)).toThrow(/unknown segment item type "header"/);
    expect(() => e.append({ ...loss, type: "timezone" } as unknown as LossRecord)).toThrow(/unknown segment item type "timezone"/);
    expect(e.length).toBe(0);
  });
});

describe("the writer", () => {
  test("can never write an item the reader rejects: every type, edge cases and random items, through a file", () => {
    const path = temp.path();
    // Counts near 2^53 are for single items: two of them would sum past what the totals hold exactly.
    const items = [...edgeItems.filter((i) => i.type === "event" || i.type === "clock" || i.count <= 2 ** 40), ...randomSet];
    const w = writeCapture(path, items, { segmentEvents: 97 });
    const { items: back, error } = readAll(path);
    expect(error).toBeUndefined();
    expect(back.length).toBe(items.length + 1);
    expect(back[0]).toEqual(header);
    const wrong = items.findIndex((item, i) => !Bun.deepEquals(back[i + 1], item, true));
    expect(wrong).toBe(-1);
    expect(verifyCapture(path).kind).toBe("ok");
    const of = (t: string) => items.filter((i) => i.type === t);
    const sum = (xs: SegmentItem[]) => xs.reduce((n, x) => n + (x as { count: number }).count, 0);
    expect(w.stats).toMatchObject({
      events: of("event").length,
      losses: of("loss").length,
      aggregates: of("aggregate").length,
      aggregatedCalls: sum(of("aggregate")),
      segments: Math.ceil(items.length / 97),
    });
  });
});
