// What the reader grants one frame (src/capture/limits.ts): containers,
// nesting, items and data items per frame, lengths that cannot fit, and the
// content size; each refused where it is met, naming the segment and the byte,
// without building what the file announces. The compiled executable's memory
// on such files is test/e2e/hostile.test.ts'.
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { encodeItem } from "../../src/capture/encode_checked.ts";
import { ContentError, contentCursor, decodeItems, decodeMeta } from "../../src/capture/items.ts";
import {
  MAX_ARRAY_ELEMENTS,
  MAX_CONTENT_BYTES,
  MAX_FRAME_DATA_ITEMS,
  MAX_FRAME_ITEMS,
  MAX_ITEM_DEPTH,
  MAX_MAP_PAIRS,
  MAX_META_DEPTH,
} from "../../src/capture/limits.ts";
import { zstdCompress } from "../../src/runtime.ts";
import { concat, header, itemBytes, readAll, tempDir, withPair } from "../support/captures.ts";
import { makeEvent } from "../support/events.ts";

const temp = tempDir("dmrec-limits-");
afterAll(temp.cleanup);

const utf8 = (s: string) => [...new TextEncoder().encode(s)];
const text = (s: string) => [0x60 | s.length, ...utf8(s)];
/** A head of major type `major` with a 4-byte argument. */
const head32 = (major: number, n: number) => [(major << 5) | 26, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
/** An unknown item type carrying `value` under an unknown key: checked, then skipped. */
const unknownItem = (value: number[] | Uint8Array) => new Uint8Array([0xa2, ...text("type"), ...text("x"), ...text("v"), ...value]);

/** Decodes a frame's content as the reader does; the error (a ContentError) or null. */
function refusal(content: Uint8Array): ContentError | null {
  try {
    for (const _ of decodeItems(contentCursor(content)));
    return null;
  } catch (e) {
    if (e instanceof ContentError) return e;
    throw e;
  }
}

function repeat(bytes: number[] | Uint8Array, n: number): Uint8Array {
  const one = new Uint8Array(bytes);
  const out = new Uint8Array(one.length * n);
  for (let i = 0; i < n; i++) out.set(one, i * one.length);
  return out;
}

describe("per container", () => {
  test(`an array of more than ${MAX_ARRAY_ELEMENTS} elements, a map of more than ${MAX_MAP_PAIRS} pairs`, () => {
    const array = unknownItem([...head32(4, MAX_ARRAY_ELEMENTS + 1), ...repeat([0x00], MAX_ARRAY_ELEMENTS + 1)]);
    expect(refusal(array)).toMatchObject({ item: 1, at: unknownItem([]).length, text: `CBOR: an array of ${MAX_ARRAY_ELEMENTS + 1} elements, over the limit of ${MAX_ARRAY_ELEMENTS}` });
    expect(refusal(unknownItem([...head32(4, MAX_ARRAY_ELEMENTS), ...repeat([0x00], MAX_ARRAY_ELEMENTS)]))).toBeNull();
    const pairs = [...Array(MAX_MAP_PAIRS + 1).keys()].flatMap((i) => [...text(`k${i}`.slice(0, 23)), 0x00]);
    expect(refusal(unknownItem([...head32(5, MAX_MAP_PAIRS + 1), ...pairs]))?.text).toBe(`CBOR: a map of ${MAX_MAP_PAIRS + 1} pairs, over the limit of ${MAX_MAP_PAIRS}`);
  });

  test("a length that cannot fit in the rest of the frame is refused before anything is allocated", () => {
    expect(refusal(unknownItem(head32(4, 1000)))?.text).toBe("CBOR: 1000 elements cannot fit in what is left of the frame");
    expect(refusal(unknownItem(head32(5, 1000)))?.text).toBe("CBOR: 1000 pairs cannot fit in what is left of the frame");
    expect(refusal(unknownItem(head32(2, 2 ** 31)))?.text).toBe("CBOR: a string of 2147483648 bytes runs past the end of its frame");
    expect(refusal(unknownItem([0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))?.text).toMatch(/^CBOR: a string of \d+ bytes runs past the end of its frame$/);
  });

  test(`nesting deeper than ${MAX_ITEM_DEPTH} in a data frame, ${MAX_META_DEPTH} in a trailer`, () => {
    const nested = (depth: number) => [...repeat([0x81], depth), 0x00];
    // The item is a map (1) holding the value: MAX_ITEM_DEPTH - 1 arrays fit inside it.
    expect(refusal(unknownItem(nested(MAX_ITEM_DEPTH - 1)))).toBeNull();
    expect(refusal(unknownItem(nested(MAX_ITEM_DEPTH)))?.text).toBe(`CBOR: containers nested more than ${MAX_ITEM_DEPTH} deep`);
    expect(refusal(unknownItem(nested(100_000)))?.text).toBe(`CBOR: containers nested more than ${MAX_ITEM_DEPTH} deep`);
    expect(() => decodeMeta(unknownItem(nested(MAX_META_DEPTH)))).toThrow(`CBOR: containers nested more than ${MAX_META_DEPTH} deep`);
  });
});

describe("per frame", () => {
  test(`more than ${MAX_FRAME_ITEMS} items in one frame`, () => {
    const tiny = [0xa1, ...text("type"), 0x60];
    expect(refusal(repeat(tiny, MAX_FRAME_ITEMS))).toBeNull();
    const e = refusal(repeat(tiny, MAX_FRAME_ITEMS + 1));
    expect(e).toMatchObject({ item: MAX_FRAME_ITEMS + 1, at: MAX_FRAME_ITEMS * tiny.length, text: `more than ${MAX_FRAME_ITEMS} items in one frame` });
  });

  test(`more than ${MAX_FRAME_DATA_ITEMS} data items in one frame: stopped where the budget runs out`, () => {
    const big = unknownItem([...head32(4, MAX_ARRAY_ELEMENTS), ...repeat([0x80], MAX_ARRAY_ELEMENTS)]);
    const perItem = MAX_ARRAY_ELEMENTS + 5;
    const n = Math.ceil(MAX_FRAME_DATA_ITEMS / perItem) + 1;
    const e = refusal(repeat(big, n));
    expect(e?.text).toBe("CBOR: more data items than one frame may hold");
    expect(e!.item!).toBeLessThan(n);
    expect(e!.item!).toBeGreaterThan(n - 3);
  });

  test("through the reader: the segment, the content byte and the frame's offset; the next segment is still read", () => {
    const path = temp.path();
    const good = makeEvent();
    const hostile = repeat([0xa1, ...text("type"), 0x60], MAX_FRAME_ITEMS + 1);
    const frames = [zstdCompress(encodeItem(header)), zstdCompress(itemBytes(good)), zstdCompress(hostile), zstdCompress(itemBytes(good))];
    writeFileSync(path, concat(frames));
    const at = frames[0]!.length + frames[1]!.length;
    const { items, error } = readAll(path);
    expect(items).toEqual([header, good, good]);
    expect((error as Error).message).toBe(
      `${path}: invalid item ${MAX_FRAME_ITEMS + 1} in segment 2 (content byte ${MAX_FRAME_ITEMS * 7}): more than ${MAX_FRAME_ITEMS} items in one frame at byte ${at}`,
    );
  });

  test("a frame whose content passes the limit, declared or not, is refused without keeping it", () => {
    const path = temp.path();
    const over = new Uint8Array(MAX_CONTENT_BYTES + 1);
    writeFileSync(path, concat([zstdCompress(encodeItem(header)), zstdCompress(over)]));
    expect(String(readAll(path).error)).toMatch(new RegExp(`segment 1: declares ${MAX_CONTENT_BYTES + 1} bytes of content, over the ${MAX_CONTENT_BYTES}-byte limit at byte \\d+$`));
  });
});

test("an unknown item type is checked as strictly as a known one before it is skipped", () => {
  const bad = withPair(unknownItem([0x00]), text("v"), [0x01]);
  expect(refusal(bad)?.text).toBe('CBOR: key "v" given twice in one map');
});
