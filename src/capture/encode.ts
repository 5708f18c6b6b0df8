// The CBOR encoder for segment items (event, loss, aggregate), on the
// recorder's hot path: it must keep up with 400,000 events a second, so it
// writes each item straight into the open segment's buffer, with its keys
// pre-encoded, no intermediate object and no copy checked by a schema. It
// writes exactly what docs/FORMAT.md says, the same bytes as the checked
// encoder in encode_checked.ts (encodeItem) for any text UTF-8 can hold (textValue):
// plain maps with text keys, keys in the order of the format's tables,
// definite lengths, no tags, byte strings as major type 2, 64-bit fields
// always with an 8-byte argument, every other integer and every length in
// its shortest form. It still refuses, for the price of a comparison or two
// per value, any value the reader would refuse, so that a bad item throws
// here instead of costing the reader the rest of its segment;
// test/unit/encode.test.ts holds it to the reader's schemas.
import {
  AGGREGATE_SCOPES,
  HOOK_NAMES,
  LOSS_REASONS,
  TOCTOU_REASONS,
  type AggregateRecord,
  type ClockRecord,
  type DmrecEvent,
  type LossRecord,
  type ProcessImage,
  type SegmentItem,
} from "../event.ts";
import { InvalidItemError } from "./cbor.ts";
import { MAX_ITEM_BYTES } from "./limits.ts";
import { fail, ITEM_KEYS, WANT, wantOneOf } from "./schema.ts";

// Major types, shifted into place.
const UINT = 0x00;
const NEGINT = 0x20;
const BYTES = 0x40;
const TEXT = 0x60;
const ARRAY = 0x80;
const MAP = 0xa0;
const FALSE = 0xf4;
const TRUE = 0xf5;
const NULL = 0xf6;
/** The 8-byte argument, for 64-bit fields whatever their value. */
const ARG64 = 27;

const U64_MAX = 2n ** 64n - 1n;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
/** Below this many characters, text is encoded by hand: cheaper than encodeInto's call and result. */
const HAND_ENCODED_TEXT = 64;
/** Up to this many bytes (keys, enumerated values, most names), a loop copies faster than set(). */
const SHORT_COPY = 32;
/** The head of a data item is at most this long (1 + an 8-byte argument). */
const MAX_HEAD = 9;

const utf8 = new TextEncoder();

/** Bytes of the shortest head for argument n. */
function headLength(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n <= 0xffffffff ? 5 : 9;
}

/** The shortest head of major type `major` (shifted) with argument n, for constant data. */
function head(major: number, n: number): number[] {
  if (n < 24) return [major | n];
  if (n < 0x100) return [major | 24, n];
  if (n < 0x10000) return [major | 25, n >> 8, n & 0xff];
  return [major | 26, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

function textBytes(s: string): number[] {
  const b = utf8.encode(s);
  return [...head(TEXT, b.length), ...b];
}

/** A map key, pre-encoded; its name is for error messages. */
interface Key {
  name: string;
  bytes: Uint8Array;
}

type ItemKey = keyof DmrecEvent | keyof LossRecord | keyof AggregateRecord | keyof ClockRecord;
const K = Object.fromEntries(
  [...new Set<ItemKey>([...ITEM_KEYS.event, ...ITEM_KEYS.loss, ...ITEM_KEYS.aggregate, ...ITEM_KEYS.clock])].map((name) => [
    name,
    { name, bytes: new Uint8Array(textBytes(name)) },
  ]),
) as Record<ItemKey, Key>;

/** The start of each item: its map head, then "type" and its value. */
function itemStart(type: keyof typeof ITEM_KEYS): Uint8Array {
  return new Uint8Array([...head(MAP, ITEM_KEYS[type].length), ...textBytes("type"), ...textBytes(type)]);
}
const EVENT_START = itemStart("event");
const LOSS_START = itemStart("loss");
const AGGREGATE_START = itemStart("aggregate");
const CLOCK_START = itemStart("clock");

/** An enumerated text field: its values pre-encoded, and what to say about any other. */
interface Choices {
  encoded: Map<string, Uint8Array>;
  want: string;
}
function choices(values: readonly string[]): Choices {
  return { encoded: new Map(values.map((v) => [v, new Uint8Array(textBytes(v))])), want: wantOneOf(values) };
}
const HOOKS = choices(HOOK_NAMES);
const REASONS = choices(LOSS_REASONS);
const SCOPES = choices(AGGREGATE_SCOPES);
const TOCTOU = choices(TOCTOU_REASONS);

/** Passed for the fields whose value may be null. */
const OR_NULL = true;

/**
 * The open segment's CBOR sequence, built item by item. Memory: the buffer
 * grows by doubling to the largest segment written and is reused after that.
 */
export class SegmentEncoder {
  private buf = new Uint8Array(64 * 1024);
  private view = new DataView(this.buf.buffer);
  private pos = 0;
  private lastImage: ProcessImage | null = null;
  private lastImageBytes = new Uint8Array(0);

  /** Bytes encoded so far. */
  get length(): number {
    return this.pos;
  }

  /** The encoded items. A view: valid until the next append() or discard(). */
  contents(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** Forgets the first n bytes (items already written out), keeping what follows. */
  discard(n: number): void {
    this.buf.copyWithin(0, n, this.pos);
    this.pos -= n;
  }

  /**
   * Appends the encoding of `item`. Throws InvalidItemError, with the
   * reader's message, for a value the reader would refuse, and for an item
   * over MAX_ITEM_BYTES (a segment of it could pass the reader's content
   * limit): then nothing of the item is kept.
   */
  append(item: SegmentItem): void {
    const start = this.pos;
    try {
      switch (item.type) {
        case "event":
          this.event(item);
          break;
        case "loss":
          this.loss(item);
          break;
        case "aggregate":
          this.aggregate(item);
          break;
        case "clock":
          this.clock(item);
          break;
        default:
          throw new InvalidItemError(`unknown segment item type ${JSON.stringify((item as { type: unknown }).type)}`);
      }
      const size = this.pos - start;
      if (size > MAX_ITEM_BYTES) throw new InvalidItemError(`an item of ${size} bytes, over the ${MAX_ITEM_BYTES}-byte limit of one item`);
    } catch (e) {
      this.pos = start;
      throw e;
    }
  }

  private event(e: DmrecEvent): void {
    this.start(EVENT_START);
    this.i64(K.ts_ns, e.ts_ns);
    this.u64(K.boot_ns, e.boot_ns);
    this.u64(K.duration_ns, e.duration_ns);
    this.choice(K.hook, HOOKS, e.hook);
    this.u32(K.pid, e.pid);
    this.u32(K.tid, e.tid);
    this.u32(K.ppid, e.ppid);
    this.u32(K.uid, e.uid);
    this.u32(K.gid, e.gid);
    this.u32(K.euid, e.euid);
    this.u32(K.loginuid, e.loginuid);
    this.u32(K.sessionid, e.sessionid);
    this.textOrBytes(K.comm, e.comm);
    this.textOrBytes(K.parent_comm, e.parent_comm);
    this.text(K.exe, e.exe, OR_NULL);
    this.u64(K.cgroup_id, e.cgroup_id);
    this.text(K.container_id, e.container_id, OR_NULL);
    this.u32(K.mntns, e.mntns);
    this.u32(K.pidns, e.pidns);
    this.u32(K.utsns, e.utsns);
    this.u64(K.cap_effective, e.cap_effective);
    this.bool(K.cap_sys_module, e.cap_sys_module);
    this.u64(K.name_ptr, e.name_ptr);
    this.bytes(K.name_entry, e.name_entry, OR_NULL);
    this.i32(K.name_entry_err, e.name_entry_err, OR_NULL);
    this.bytes(K.name_exit, e.name_exit, OR_NULL);
    this.i32(K.name_exit_err, e.name_exit_err, OR_NULL);
    this.bytes(K.name_kernel, e.name_kernel, OR_NULL);
    this.bytes(K.name, e.name, OR_NULL);
    this.u32(K.flags, e.flags);
    this.textArray(K.flags_names, e.flags_names);
    this.int(K.ret, e.ret);
    this.text(K.errno, e.errno, OR_NULL);
    this.bool(K.freed, e.freed, OR_NULL);
    this.bool(K.forced, e.forced);
    this.bool(K.toctou, e.toctou, OR_NULL);
    this.choiceArray(K.toctou_reason, TOCTOU, e.toctou_reason);
    this.image(e);
  }

  /**
   * The ProcessImage keys, last in events and aggregates alike. A flood repeats the last
   * call's (the recorder's decoder hands on the same values, argv the same array): its
   * bytes are copied again, checked when first written.
   */
  private image(it: ProcessImage): void {
    const last = this.lastImage;
    if (
      last !== null && it.argv === last.argv && it.exe_inode === last.exe_inode && it.exe_dev === last.exe_dev &&
      it.exe_deleted === last.exe_deleted && it.exe_truncated === last.exe_truncated && it.exe_unreachable === last.exe_unreachable &&
      it.parent_exe === last.parent_exe && it.argv_err === last.argv_err && it.argv_truncated === last.argv_truncated && it.tty === last.tty
    ) {
      const bytes = this.lastImageBytes;
      this.room(bytes.length);
      this.buf.set(bytes, this.pos);
      this.pos += bytes.length;
      return;
    }
    const start = this.pos;
    this.imageKeys(it);
    // Arrays are compared by identity: a copy of the values, not of the array, is kept.
    this.lastImage = { ...it };
    this.lastImageBytes = this.buf.slice(start, this.pos);
  }

  private imageKeys(it: ProcessImage): void {
    this.u64(K.exe_inode, it.exe_inode, OR_NULL);
    this.text(K.exe_dev, it.exe_dev, OR_NULL);
    this.bool(K.exe_deleted, it.exe_deleted, OR_NULL);
    this.bool(K.exe_truncated, it.exe_truncated, OR_NULL);
    this.bool(K.exe_unreachable, it.exe_unreachable, OR_NULL);
    this.text(K.parent_exe, it.parent_exe, OR_NULL);
    this.bytesArray(K.argv, it.argv);
    this.i32(K.argv_err, it.argv_err, OR_NULL);
    this.bool(K.argv_truncated, it.argv_truncated, OR_NULL);
    this.text(K.tty, it.tty, OR_NULL);
  }

  private clock(c: ClockRecord): void {
    this.start(CLOCK_START);
    this.i64(K.ts_ns, c.ts_ns);
    this.u64(K.boot_ns, c.boot_ns);
    this.u64(K.prev_boot_ns, c.prev_boot_ns);
    this.i64(K.old_boot_to_wall_ns, c.old_boot_to_wall_ns);
    this.i64(K.boot_to_wall_ns, c.boot_to_wall_ns);
  }

  private loss(l: LossRecord): void {
    this.start(LOSS_START);
    this.i64(K.ts_ns, l.ts_ns);
    this.count(K.count, l.count);
    this.choice(K.reason, REASONS, l.reason);
  }

  // Written out like event(), not sharing its process and name blocks: a
  // shared method costs 15% of the encoding time (measured with Bun 1.4).
  private aggregate(a: AggregateRecord): void {
    this.start(AGGREGATE_START);
    this.choice(K.scope, SCOPES, a.scope);
    this.count(K.count, a.count);
    this.i64(K.ts_ns, a.ts_ns);
    this.i64(K.last_ts_ns, a.last_ts_ns);
    this.u64(K.boot_ns, a.boot_ns);
    this.u64(K.last_boot_ns, a.last_boot_ns);
    this.choice(K.hook, HOOKS, a.hook);
    this.u32(K.pid, a.pid, OR_NULL);
    this.u32(K.tid, a.tid, OR_NULL);
    this.u32(K.ppid, a.ppid, OR_NULL);
    this.u32(K.uid, a.uid, OR_NULL);
    this.u32(K.gid, a.gid, OR_NULL);
    this.u32(K.euid, a.euid, OR_NULL);
    this.u32(K.loginuid, a.loginuid, OR_NULL);
    this.u32(K.sessionid, a.sessionid, OR_NULL);
    this.textOrBytes(K.comm, a.comm, OR_NULL);
    this.textOrBytes(K.parent_comm, a.parent_comm, OR_NULL);
    this.text(K.exe, a.exe, OR_NULL);
    this.u64(K.cgroup_id, a.cgroup_id, OR_NULL);
    this.text(K.container_id, a.container_id, OR_NULL);
    this.u32(K.mntns, a.mntns, OR_NULL);
    this.u32(K.pidns, a.pidns, OR_NULL);
    this.u32(K.utsns, a.utsns, OR_NULL);
    this.u64(K.cap_effective, a.cap_effective, OR_NULL);
    this.bool(K.cap_sys_module, a.cap_sys_module, OR_NULL);
    this.u64(K.name_ptr, a.name_ptr, OR_NULL);
    this.bytes(K.name_entry, a.name_entry, OR_NULL);
    this.i32(K.name_entry_err, a.name_entry_err, OR_NULL);
    this.bytes(K.name_exit, a.name_exit, OR_NULL);
    this.i32(K.name_exit_err, a.name_exit_err, OR_NULL);
    this.bytes(K.name_kernel, a.name_kernel, OR_NULL);
    this.bytes(K.name, a.name, OR_NULL);
    this.u32(K.flags, a.flags, OR_NULL);
    this.textArray(K.flags_names, a.flags_names);
    this.int(K.ret, a.ret, OR_NULL);
    this.text(K.errno, a.errno, OR_NULL);
    this.bool(K.toctou, a.toctou, OR_NULL);
    this.choiceArray(K.toctou_reason, TOCTOU, a.toctou_reason);
    this.image(a);
  }

  // Each field writer writes its key, then its value; the key's room and the
  // value's head are reserved together. `orNull`: null is written as null.

  private u32(k: Key, v: number | null, orNull = false): void {
    if (orNull && v === null) return this.nil(k);
    if (typeof v !== "number" || v >>> 0 !== v) bad(k, WANT.u32, v);
    this.key(k, MAX_HEAD);
    this.head(UINT, v);
  }

  private i32(k: Key, v: number | null, orNull = false): void {
    if (orNull && v === null) return this.nil(k);
    if (typeof v !== "number" || (v | 0) !== v) bad(k, WANT.i32, v);
    this.key(k, MAX_HEAD);
    if (v >= 0) this.head(UINT, v);
    else this.head(NEGINT, -1 - v);
  }

  private int(k: Key, v: number | null, orNull = false): void {
    if (orNull && v === null) return this.nil(k);
    if (!Number.isSafeInteger(v)) bad(k, WANT.int, v);
    const n = v as number;
    this.key(k, MAX_HEAD);
    if (n >= 0) this.head(UINT, n);
    else this.head(NEGINT, -1 - n);
  }

  private count(k: Key, v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) bad(k, WANT.count, v);
    this.key(k, MAX_HEAD);
    this.head(UINT, v);
  }

  private u64(k: Key, v: bigint | null, orNull = false): void {
    if (orNull && v === null) return this.nil(k);
    if (typeof v !== "bigint" || v < 0n || v > U64_MAX) bad(k, WANT.u64, v);
    this.key(k, MAX_HEAD);
    this.buf[this.pos] = UINT | ARG64;
    this.view.setBigUint64(this.pos + 1, v);
    this.pos += MAX_HEAD;
  }

  private i64(k: Key, v: bigint): void {
    if (typeof v !== "bigint" || v < I64_MIN || v > I64_MAX) bad(k, WANT.i64, v);
    this.key(k, MAX_HEAD);
    const b = this.buf;
    const p = this.pos;
    this.view.setBigInt64(p + 1, v);
    if (v < 0n) {
      // CBOR's negative argument is -1 - v, the two's complement bytes inverted: no bigint to allocate.
      b[p] = NEGINT | ARG64;
      for (let i = p + 1; i < p + MAX_HEAD; i++) b[i] = ~b[i]! & 0xff;
    } else {
      b[p] = UINT | ARG64;
    }
    this.pos = p + MAX_HEAD;
  }

  private bool(k: Key, v: boolean | null, orNull = false): void {
    if (orNull && v === null) return this.nil(k);
    if (v !== true && v !== false) bad(k, WANT.bool, v);
    this.key(k, 1);
    this.buf[this.pos++] = v ? TRUE : FALSE;
  }

  private text(k: Key, v: string | null, orNull = false): void {
    if (orNull && v === null) return this.nil(k);
    if (typeof v !== "string") bad(k, WANT.text, v);
    this.key(k, 0);
    this.textValue(v);
  }

  private bytes(k: Key, v: Uint8Array | null, orNull = false): void {
    if (orNull && v === null) return this.nil(k);
    if (!(v instanceof Uint8Array)) bad(k, WANT.bytes, v);
    this.key(k, MAX_HEAD + v.length);
    this.head(BYTES, v.length);
    if (v.length <= SHORT_COPY) this.raw(v);
    else {
      this.buf.set(v, this.pos);
      this.pos += v.length;
    }
  }

  private textOrBytes(k: Key, v: string | Uint8Array | null, orNull = false): void {
    if (typeof v === "string") this.text(k, v);
    else if (v instanceof Uint8Array) this.bytes(k, v);
    else if (orNull && v === null) this.nil(k);
    else bad(k, WANT.textOrBytes, v);
  }

  /** An array of byte strings, or null. */
  private bytesArray(k: Key, v: Uint8Array[] | null): void {
    if (v === null) return this.nil(k);
    if (!Array.isArray(v)) bad(k, WANT.array, v);
    this.key(k, MAX_HEAD);
    this.head(ARRAY, v.length);
    for (let i = 0; i < v.length; i++) {
      const b = v[i];
      if (!(b instanceof Uint8Array)) fail(`${k.name}[${i}]`, WANT.bytes, b);
      this.room(MAX_HEAD + b.length);
      this.head(BYTES, b.length);
      this.buf.set(b, this.pos);
      this.pos += b.length;
    }
  }

  private textArray(k: Key, v: string[]): void {
    if (!Array.isArray(v)) bad(k, WANT.array, v);
    this.key(k, MAX_HEAD);
    this.head(ARRAY, v.length);
    for (let i = 0; i < v.length; i++) {
      const s = v[i];
      if (typeof s !== "string") fail(`${k.name}[${i}]`, WANT.text, s);
      this.textValue(s);
    }
  }

  private choice(k: Key, c: Choices, v: string): void {
    const encoded = c.encoded.get(v);
    if (encoded === undefined) bad(k, c.want, v);
    this.key(k, encoded.length);
    this.raw(encoded);
  }

  private choiceArray(k: Key, c: Choices, v: string[]): void {
    if (!Array.isArray(v)) bad(k, WANT.array, v);
    this.key(k, MAX_HEAD);
    this.head(ARRAY, v.length);
    for (let i = 0; i < v.length; i++) {
      const encoded = c.encoded.get(v[i]!);
      if (encoded === undefined) fail(`${k.name}[${i}]`, c.want, v[i]);
      this.room(encoded.length);
      this.raw(encoded);
    }
  }

  private nil(k: Key): void {
    this.key(k, 1);
    this.buf[this.pos++] = NULL;
  }

  /** Writes a key, with room for `after` more bytes behind it. */
  private key(k: Key, after: number): void {
    this.room(k.bytes.length + after);
    this.raw(k.bytes);
  }

  /** An item's first bytes (its map head, type key and value): the one write no key() precedes. */
  private start(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.raw(bytes);
  }

  /** Copies bytes the caller made room for. */
  private raw(b: Uint8Array): void {
    const buf = this.buf;
    const p = this.pos;
    for (let i = 0; i < b.length; i++) buf[p + i] = b[i]!;
    this.pos = p + b.length;
  }

  /** The shortest head for a safe non-negative integer n, in room the caller made. */
  private head(major: number, n: number): void {
    const b = this.buf;
    let p = this.pos;
    if (n < 24) {
      b[p++] = major | n;
    } else if (n < 0x100) {
      b[p++] = major | 24;
      b[p++] = n;
    } else if (n < 0x10000) {
      b[p++] = major | 25;
      b[p++] = n >> 8;
      b[p++] = n & 0xff;
    } else if (n <= 0xffffffff) {
      b[p++] = major | 26;
      this.view.setUint32(p, n);
      p += 4;
    } else {
      b[p++] = major | ARG64;
      this.view.setUint32(p, Math.floor(n / 2 ** 32));
      this.view.setUint32(p + 4, n >>> 0);
      p += 8;
    }
    this.pos = p;
  }

  /**
   * Text as UTF-8 (as TextEncoder writes it: a lone surrogate, which UTF-8
   * cannot hold, becomes U+FFFD). The UTF-8 length is known only once it is
   * written, so it goes behind the longest head it might need and moves up
   * when its head turns out shorter.
   */
  private textValue(s: string): void {
    const n = s.length;
    this.room(MAX_HEAD + 3 * n);
    const b = this.buf;
    const p = this.pos;
    if (n < HAND_ENCODED_TEXT) {
      // ASCII, by far the most common: one byte a character, so the head is known.
      const at = p + headLength(n);
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[at + i] = c;
      }
      if (i === n) {
        this.head(TEXT, n);
        this.pos = at + n;
        return;
      }
    }
    const reserved = headLength(3 * n);
    const { written } = utf8.encodeInto(s, b.subarray(p + reserved));
    const needed = headLength(written);
    if (needed < reserved) b.copyWithin(p + needed, p + reserved, p + reserved + written);
    this.head(TEXT, written);
    this.pos = p + needed + written;
  }

  /** Makes room for n more bytes. */
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    bigger.set(this.buf.subarray(0, this.pos));
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }
}

/** The reader's refusal of `v` for key k: "missing key" for a key the item lacks. */
function bad(k: Key, want: string, v: unknown): never {
  if (v === undefined) throw new InvalidItemError(`missing key "${k.name}"`);
  return fail(k.name, want, v);
}
