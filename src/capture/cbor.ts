// Strict CBOR reading for captures (docs/FORMAT.md, "CBOR conventions"): a
// cursor over one frame's content or one skippable payload that reads only
// what the format allows (definite lengths, text map keys, each key once, no
// tags, no floats, no simple values but false, true and null, UTF-8 text)
// and refuses anything else with an InvalidItemError naming the byte. Lengths
// are checked against the bytes left before anything is allocated, and every
// container spends from the frame's budget of data items (limits.ts), so a
// crafted frame costs at most its budget, not what its heads announce.
// Nothing here builds values the caller did not ask for: schema.ts decodes
// the fields it knows through the typed readers below and skips the rest.
import { MAX_ARRAY_ELEMENTS, MAX_MAP_PAIRS } from "./limits.ts";

/** A value, an item or a payload that does not match the format. */
export class InvalidItemError extends Error {
  constructor(
    problem: string,
    /** offset in the decoded bytes (frame content or payload) of the offending byte, when known */
    readonly at: number | null = null,
  ) {
    super(problem);
    this.name = "InvalidItemError";
  }
}

const MAJOR_UINT = 0;
const MAJOR_NEGINT = 1;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;
const MAJOR_TAG = 6;
const FALSE = 0xf4;
const TRUE = 0xf5;
const NULL = 0xf6;
/** Additional information 25, 26, 27: a 2-, 4- or 8-byte argument. */
const AI_2 = 25;
const AI_4 = 26;
const AI_8 = 27;
const TWO_32 = 2 ** 32;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Up to this many pairs, a skipped map's keys are told apart by a scan: cheaper than a Set. */
const SMALL_MAP = 16;
/** Text of at most this many bytes is decoded by hand when it is ASCII: cheaper than a TextDecoder call. */
const HAND_DECODED = 24;
const INTERNED = 1024;
const interned = new Array<string | undefined>(INTERNED);

/** Byte strings up to this long are shared by the items that hold them. */
const SHARED_BYTES = 64;
const sharedBytes = new Array<Uint8Array | undefined>(INTERNED);

function slotOf(buf: Uint8Array, at: number, n: number): number {
  return n === 0 ? 0 : (((n * 31 + buf[at]!) * 31 + buf[at + (n >> 1)]!) * 31 + buf[at + n - 1]!) & (INTERNED - 1);
}

function sameAscii(s: string, buf: Uint8Array, at: number): boolean {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) !== buf[at + k]) return false;
  return true;
}

function half(bits: number): number {
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  const v = exp === 0 ? frac * 2 ** -24 : exp === 31 ? (frac ? NaN : Infinity) : (1 + frac / 1024) * 2 ** (exp - 15);
  return bits & 0x8000 ? -v : v;
}

/**
 * Reads data items from bytes[pos, end). The typed readers check the head
 * first and throw InvalidItemError ("key "pid": expected ..., got float 1.5")
 * without moving when the value is of another kind.
 */
export class Cursor {
  /** the argument of the last head read: exact below 2^53, else larger than any limit */
  private arg = 0;
  /** per nesting depth, the keys (start, length) of the small map being skipped there */
  private readonly keysAt: number[][] = [];
  private readonly view: DataView;
  readonly buf: Uint8Array;

  constructor(
    bytes: Uint8Array,
    public pos: number,
    readonly end: number,
    /** data items the frame may still announce (each container's elements, each item) */
    public dataItems: number,
    /** containers allowed inside one another */
    readonly maxDepth: number,
  ) {
    // A plain Uint8Array over the same memory: slices of it are then fresh
    // Uint8Arrays, not views (node:zlib hands out Buffers, whose slice() is one).
    this.buf = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** The initial byte at pos, without moving. */
  peek(): number {
    if (this.pos >= this.end) throw new InvalidItemError("CBOR: item cut short by the end of its frame", this.pos);
    return this.buf[this.pos]!;
  }

  /**
   * Reads one head and returns its initial byte; the argument is kept for
   * the caller. Refuses reserved additional information, indefinite lengths
   * and a head cut by the end.
   */
  private head(): number {
    const p = this.pos;
    const ib = this.peek();
    const ai = ib & 0x1f;
    if (ai < 24) {
      this.arg = ai;
      this.pos = p + 1;
      return ib;
    }
    if (ai > AI_8) {
      const what = ai === 31 ? (ib === 0xff ? "a break code" : "an indefinite length") : `reserved additional information ${ai}`;
      throw new InvalidItemError(`CBOR: ${what} (a capture uses definite lengths only)`, p);
    }
    const size = 1 << (ai - 24);
    if (p + 1 + size > this.end) throw new InvalidItemError("CBOR: item cut short by the end of its frame", p);
    // By hand from the bytes: the DataView reads took several times as long.
    const b = this.buf;
    this.arg =
      size === 1 ? b[p + 1]! : size === 2 ? (b[p + 1]! << 8) | b[p + 2]! : size === 4 ? this.u32At(p + 1) : this.u32At(p + 1) * TWO_32 + this.u32At(p + 5);
    this.pos = p + 1 + size;
    return ib;
  }

  /** What the value at pos is, in the words of an error message ("float 1.5", "text"). */
  describe(): string {
    const p = this.pos;
    const ib = this.peek();
    const major = ib >> 5;
    try {
      if (major === MAJOR_UINT || major === MAJOR_NEGINT) return `integer ${this.exactInteger()}`;
      if (major === 7) {
        if (ib === FALSE || ib === TRUE) return "a boolean";
        if (ib === NULL) return "null";
        if (ib === 0xf7) return "undefined";
        const v = this.view;
        if (ib === 0xf9 && p + 3 <= this.end) return `float ${half(v.getUint16(p + 1))} (half precision)`;
        if (ib === 0xfa && p + 5 <= this.end) return `float ${v.getFloat32(p + 1)} (single precision)`;
        if (ib === 0xfb && p + 9 <= this.end) return `float ${v.getFloat64(p + 1)} (double precision)`;
        return "a simple value";
      }
      if (major === MAJOR_TAG) {
        this.head();
        return this.arg === 2 || this.arg === 3 ? `tag ${this.arg} (a bignum)` : `tag ${this.arg}`;
      }
      return ["", "", "a byte string", "text", "an array", "a map"][major]!;
    } finally {
      this.pos = p;
    }
  }

  /** Throws the error for key `key` holding the value at pos where `want` belongs. */
  wrong(key: string, want: string): never {
    throw new InvalidItemError(`key "${key}": expected ${want}, got ${this.describe()}`, this.pos);
  }

  /** The 4-byte big-endian unsigned integer at `at`. */
  private u32At(at: number): number {
    const b = this.buf;
    return ((b[at]! << 24) >>> 0) + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
  }

  /** The 8-byte big-endian unsigned integer at `at`: through a number when below 2^53 (DataView's getBigUint64 costs more). */
  private big(at: number): bigint {
    const hi = this.u32At(at);
    if (hi >= 0x200000) return this.view.getBigUint64(at);
    return BigInt(hi * TWO_32 + this.u32At(at + 4));
  }

  /** An integer of major type 0 or 1 as a bigint, whatever its width. */
  private exactInteger(): bigint {
    const p = this.pos;
    const ib = this.head();
    let n = BigInt(this.arg);
    if ((ib & 0x1f) === AI_8) n = this.view.getBigUint64(p + 1);
    return ib >> 5 === MAJOR_NEGINT ? -1n - n : n;
  }

  /** An integer in [min, max] (both within the safe range), in any width. */
  int(key: string, want: string, min: number, max: number): number {
    const p = this.pos;
    const ib = this.peek();
    if (ib < 24 && ib >= min && ib <= max) {
      this.pos = p + 1;
      return ib;
    }
    // A process or user id: a 4-byte or 2-byte argument, read here without head().
    if (ib === MAJOR_UINT + AI_4 && p + 5 <= this.end) {
      const n = this.u32At(p + 1);
      if (n >= min && n <= max) {
        this.pos = p + 5;
        return n;
      }
    } else if (ib === MAJOR_UINT + AI_2 && p + 3 <= this.end) {
      const n = (this.buf[p + 1]! << 8) | this.buf[p + 2]!;
      if (n >= min && n <= max) {
        this.pos = p + 3;
        return n;
      }
    }
    const major = ib >> 5;
    if (major > MAJOR_NEGINT) this.wrong(key, want);
    this.head();
    const n = major === MAJOR_NEGINT ? -1 - this.arg : this.arg;
    if (this.arg > Number.MAX_SAFE_INTEGER || n < min || n > max) {
      this.pos = p;
      this.wrong(key, want);
    }
    return n;
  }

  /** An unsigned 64-bit integer (major type 0), in any width. */
  u64(key: string, want: string): bigint {
    const p = this.pos;
    const ib = this.peek();
    if (ib === MAJOR_UINT + AI_8 && p + 9 <= this.end) {
      this.pos = p + 9;
      return this.big(p + 1);
    }
    if (ib >> 5 !== MAJOR_UINT) this.wrong(key, want);
    return this.exactInteger();
  }

  /** A signed 64-bit integer (major type 0 or 1), in any width. */
  i64(key: string, want: string): bigint {
    const p = this.pos;
    const ib = this.peek();
    const major = ib >> 5;
    if (major > MAJOR_NEGINT) this.wrong(key, want);
    // Both forms hold 0 to 2^63 - 1 in their argument: its high bit must be clear.
    if ((ib & 0x1f) === AI_8) {
      // A head cut by the end of the frame is refused as such.
      if (p + 9 > this.end) this.head();
      if (this.buf[p + 1]! >= 0x80) this.wrong(key, want);
      this.pos = p + 9;
      const n = this.big(p + 1);
      return major === MAJOR_NEGINT ? -1n - n : n;
    }
    return this.exactInteger();
  }

  bool(key: string, want: string): boolean {
    const ib = this.peek();
    if (ib !== FALSE && ib !== TRUE) this.wrong(key, want);
    this.pos++;
    return ib === TRUE;
  }

  /** Consumes a null if there is one. */
  null(): boolean {
    if (this.pos < this.end && this.buf[this.pos] === NULL) {
      this.pos++;
      return true;
    }
    return false;
  }

  isText(): boolean {
    return this.peek() >> 5 === MAJOR_TEXT;
  }

  /** A string's length from its head, checked against the bytes left. */
  private stringLength(): number {
    const p = this.pos;
    this.head();
    if (this.arg > this.end - this.pos) throw new InvalidItemError(`CBOR: a string of ${this.arg} bytes runs past the end of its frame`, p);
    return this.arg;
  }

  text(key: string, want: string): string {
    if (this.peek() >> 5 !== MAJOR_TEXT) this.wrong(key, want);
    const p = this.pos;
    const n = this.stringLength();
    return this.utf8(p, n);
  }

  private utf8(headAt: number, n: number): string {
    const start = this.pos;
    const buf = this.buf;
    this.pos = start + n;
    if (n <= HAND_DECODED) {
      // Short texts repeat (hook, flag and errno names, commands): one string each,
      // which later uses compare and render without flattening a rope again. The slot
      // comes from the length and three bytes; a hit is then compared byte by byte,
      // which also shows these bytes to be ASCII.
      const slot = slotOf(buf, start, n);
      const hit = interned[slot];
      if (hit !== undefined && hit.length === n && sameAscii(hit, buf, start)) return hit;
      let i = start;
      while (i < start + n && buf[i]! < 0x80) i++;
      if (i === start + n) {
        let s = "";
        for (let j = start; j < start + n; j++) s += String.fromCharCode(buf[j]!);
        interned[slot] = s;
        return s;
      }
    }
    try {
      return strictUtf8.decode(buf.subarray(start, start + n));
    } catch {
      throw new InvalidItemError("CBOR: text that is not valid UTF-8", headAt);
    }
  }

  /** A byte string, copied: items must not pin the frame's content in memory. */
  bytes(key: string, want: string, length = -1): Uint8Array {
    if (this.peek() >> 5 !== MAJOR_BYTES) this.wrong(key, want);
    const p = this.pos;
    const n = this.stringLength();
    if (length >= 0 && n !== length) {
      this.pos = p;
      this.wrong(key, want);
    }
    const start = this.pos;
    if (length < 0 && n <= SHARED_BYTES) {
      // Short byte strings (module names, arguments) repeat from item to item: one
      // array each, never written to by any reader.
      const slot = slotOf(this.buf, start, n);
      const hit = sharedBytes[slot];
      if (hit !== undefined && hit.length === n && this.take(hit)) return hit;
      this.pos += n;
      return (sharedBytes[slot] = this.buf.slice(start, start + n));
    }
    this.pos += n;
    return this.buf.slice(start, start + n);
  }

  /** Text or a byte string: the other kind is kept as it is. */
  textOrBytes(key: string, want: string): string | Uint8Array {
    return this.isText() ? this.text(key, want) : this.bytes(key, want);
  }

  /** Spends n announced data items from the frame's budget. */
  spend(n: number): void {
    this.dataItems -= n;
    if (this.dataItems < 0) throw new InvalidItemError("CBOR: more data items than one frame may hold", this.pos);
  }

  /**
   * An array's head: its length, checked against the limit and the bytes
   * left (every element takes one byte at least), and spent from the budget.
   */
  arrayHead(key: string, want: string): number {
    if (this.peek() >> 5 !== MAJOR_ARRAY) this.wrong(key, want);
    return this.containerHead(1);
  }

  /** A map's head: its number of pairs, checked and spent like an array's. */
  mapHead(key: string, want: string): number {
    if (this.peek() >> 5 !== MAJOR_MAP) this.wrong(key, want);
    return this.containerHead(2);
  }

  isMap(): boolean {
    return this.peek() >> 5 === MAJOR_MAP;
  }

  private containerHead(perEntry: 1 | 2): number {
    const p = this.pos;
    this.head();
    const n = this.arg;
    const limit = perEntry === 1 ? MAX_ARRAY_ELEMENTS : MAX_MAP_PAIRS;
    if (n > limit || n * perEntry > this.end - this.pos) {
      const entries = `${n} ${perEntry === 1 ? "element" : "pair"}${n === 1 ? "" : "s"}`;
      if (n > limit) throw new InvalidItemError(`CBOR: ${perEntry === 1 ? "an array" : "a map"} of ${entries}, over the limit of ${limit}`, p);
      throw new InvalidItemError(`CBOR: ${entries} cannot fit in what is left of the frame`, p);
    }
    this.spend(n * perEntry);
    return n;
  }

  /** A map key: text, else the map is not one a capture holds. */
  key(): string {
    const p = this.pos;
    if (this.peek() >> 5 !== MAJOR_TEXT) throw new InvalidItemError(`CBOR: a map key that is ${this.describe()}, not text`, p);
    const n = this.stringLength();
    return this.utf8(p, n);
  }

  /**
   * Passes over a text string (a key when `key`), checking that it is
   * UTF-8 without making a string of it, and returns where its bytes start.
   */
  private skipText(key: boolean): number {
    const p = this.pos;
    if (key && this.peek() >> 5 !== MAJOR_TEXT) throw new InvalidItemError(`CBOR: a map key that is ${this.describe()}, not text`, p);
    const n = this.stringLength();
    const start = this.pos;
    const buf = this.buf;
    let i = start;
    while (i < start + n && buf[i]! < 0x80) i++;
    if (i < start + n) this.utf8(p, n);
    this.pos = start + n;
    return start;
  }

  /** Whether the bytes at pos are `encoded` (a pre-encoded key or value); consumes them if so. */
  take(encoded: Uint8Array): boolean {
    const p = this.pos;
    const n = encoded.length;
    if (p + n > this.end) return false;
    const buf = this.buf;
    for (let i = 0; i < n; i++) if (buf[p + i] !== encoded[i]) return false;
    this.pos = p + n;
    return true;
  }

  /**
   * Skips one data item, checking all of it as strictly as the typed
   * readers do: what a reader ignores must still be what the format allows.
   */
  skip(depth: number): void {
    const p = this.pos;
    const ib = this.peek();
    const major = ib >> 5;
    if (major === MAJOR_TAG) {
      throw new InvalidItemError(`CBOR: ${this.describe()} (a capture holds no tags)`, p);
    }
    if (major === 7) {
      if (ib !== FALSE && ib !== TRUE && ib !== NULL) throw new InvalidItemError(`CBOR: ${this.describe()} (a capture holds no such value)`, p);
      this.pos++;
      return;
    }
    if (major === MAJOR_UINT || major === MAJOR_NEGINT) {
      this.head();
      return;
    }
    if (major === MAJOR_TEXT) {
      this.skipText(false);
      return;
    }
    if (major === MAJOR_BYTES) {
      const n = this.stringLength();
      this.pos += n;
      return;
    }
    if (depth >= this.maxDepth) throw new InvalidItemError(`CBOR: containers nested more than ${this.maxDepth} deep`, p);
    if (major === MAJOR_ARRAY) {
      const n = this.containerHead(1);
      for (let i = 0; i < n; i++) this.skip(depth + 1);
      return;
    }
    const n = this.containerHead(2);
    if (n > SMALL_MAP) {
      const keys = new Set<string>();
      for (let i = 0; i < n; i++) {
        const at = this.pos;
        const k = this.key();
        if (keys.has(k)) throw duplicateKey(k, at);
        keys.add(k);
        this.skip(depth + 1);
      }
      return;
    }
    // A small map's keys are told apart by their bytes, kept as (start, length)
    // in an array per depth: nothing is allocated per map or key.
    const keys = (this.keysAt[depth] ??= []);
    keys.length = 0;
    for (let i = 0; i < n; i++) {
      const at = this.pos;
      const start = this.skipText(true);
      const length = this.pos - start;
      for (let j = 0; j < keys.length; j += 2) {
        if (keys[j + 1] === length && this.sameBytes(keys[j]!, start, length)) throw duplicateKey(strictUtf8.decode(this.buf.subarray(start, start + length)), at);
      }
      keys.push(start, length);
      this.skip(depth + 1);
    }
  }

  private sameBytes(a: number, b: number, length: number): boolean {
    const buf = this.buf;
    for (let i = 0; i < length; i++) if (buf[a + i] !== buf[b + i]) return false;
    return true;
  }
}

/** The error for a key given twice in one map: which value would count is not for a reader to guess. */
export function duplicateKey(key: string, at: number): InvalidItemError {
  return new InvalidItemError(`CBOR: key ${quoted(key)} given twice in one map`, at);
}

/**
 * Text from a file, quoted for a message when it is short printable ASCII,
 * else only described: a message is one line that no file can steer.
 */
export function quoted(text: string): string {
  return text.length <= 64 && /^[\x20-\x7e]*$/.test(text) ? JSON.stringify(text) : `(${text.length} characters, not shown)`;
}
