// The CBOR side of the capture format (docs/FORMAT.md): the decoder, the item
// schemas the reader enforces, and the checked (general, slow) encoder that
// writes what happens once per file or segment: the header, trailers and the
// seal, each checked with the reader's own schema first. Segment items go
// through the fast encoder in encode.ts, which test/unit/encode.test.ts holds
// to these schemas and to this encoder's bytes.
import { Decoder, Encoder, setSizeLimits } from "cbor-x";
import {
  AGGREGATE_SCOPES,
  HOOK_NAMES,
  LOSS_REASONS,
  TOCTOU_REASONS,
  type AggregateRecord,
  type CaptureHeader,
  type CaptureItem,
  type CaptureSet,
  type DmrecEvent,
  type EventBudget,
  type LossRecord,
  type SealInfo,
  type SegmentInfo,
} from "../event.ts";

export const FORMAT_NAME = "dmrec-capture";
/** The major version this code writes and the only one it reads. */
export const FORMAT_VERSION = 1;

// cbor-x keeps these limits process-wide. Real items hold a few dozen keys
// and short arrays; the limits stop a hostile length from allocating first.
setSizeLimits({ maxArraySize: 65536, maxMapSize: 4096, maxObjectSize: 4096 });

// Plain maps with text keys and plain byte strings, no tags: what any CBOR
// decoder reads (cbor-x's records and typed-array tags are private to it).
const encoder = new Encoder({
  useRecords: false,
  tagUint8Array: false,
  variableMapSize: true,
  pack: false,
  sequential: false,
  structuredClone: false,
});
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** A decoded item whose keys or value types do not match the format. */
export class InvalidItemError extends Error {
  constructor(problem: string) {
    super(problem);
    this.name = "InvalidItemError";
  }
}

type Check<T> = (value: unknown, key: string) => T;
/** A key files written before it existed lack: reading one of those, its value is `absent`. */
type OptionalCheck<T> = Check<T> & { readonly absent: T };
type Schema<T> = { [K in keyof T]-?: Check<T[K]> | OptionalCheck<T[K]> };

/**
 * What a value must be, in the words of the InvalidItemError messages: the
 * reader's schemas and the fast encoder (encode.ts) refuse alike.
 */
export const WANT = {
  u64: "an unsigned 64-bit integer",
  i64: "a signed 64-bit integer",
  u32: "an unsigned 32-bit integer",
  i32: "a signed 32-bit integer",
  int: "an integer",
  count: "a non-negative integer",
  text: "text",
  bool: "a boolean",
  bytes: "a byte string",
  textOrBytes: "text or a byte string",
  array: "an array",
} as const;

/** The `want` of a value that must be one of `values`. */
export function wantOneOf(values: readonly (string | number)[]): string {
  return values.map((x) => JSON.stringify(x)).join(" or ");
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (v instanceof Uint8Array) return "a byte string";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "bigint") return `integer ${v}`;
  if (typeof v === "number") return Number.isInteger(v) ? `integer ${v}` : `float ${v}`;
  if (typeof v === "string") return "text";
  if (typeof v === "object") return isMap(v) ? "a map" : "a tagged value";
  return typeof v;
}

/** Throws the InvalidItemError for key `key` holding `got` where `want` belongs. */
export function fail(key: string, want: string, got: unknown): never {
  throw new InvalidItemError(`key "${key}": expected ${want}, got ${describe(got)}`);
}

function isMap(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

// Integers arrive as number or bigint depending on the writer's encoding
// (cbor-x decodes any 8-byte integer as bigint): both are accepted and
// normalized, and a float is refused even when integral-looking, since it
// may already have lost precision.
function bigintIn(min: bigint, max: bigint, want: string): Check<bigint> {
  return (v, key) => {
    const n = typeof v === "bigint" ? v : Number.isSafeInteger(v) ? BigInt(v as number) : fail(key, want, v);
    return n >= min && n <= max ? n : fail(key, want, v);
  };
}

function numberIn(min: number, max: number, want: string): Check<number> {
  return (v, key) => {
    const n = typeof v === "bigint" && v >= BigInt(min) && v <= BigInt(max) ? Number(v) : v;
    return Number.isSafeInteger(n) && (n as number) >= min && (n as number) <= max ? (n as number) : fail(key, want, v);
  };
}

const u64 = bigintIn(0n, 2n ** 64n - 1n, WANT.u64);
const i64 = bigintIn(-(2n ** 63n), 2n ** 63n - 1n, WANT.i64);
const u32 = numberIn(0, 2 ** 32 - 1, WANT.u32);
const i32 = numberIn(-(2 ** 31), 2 ** 31 - 1, WANT.i32);
const safeInt = numberIn(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, WANT.int);
const count = numberIn(0, Number.MAX_SAFE_INTEGER, WANT.count);

const text: Check<string> = (v, key) => (typeof v === "string" ? v : fail(key, WANT.text, v));
const bool: Check<boolean> = (v, key) => (typeof v === "boolean" ? v : fail(key, WANT.bool, v));
// A copy, so that items do not pin the whole decompressed segment in memory
// and are plain Uint8Arrays (cbor-x returns Buffer views where it can).
const bytes: Check<Uint8Array> = (v, key) =>
  v instanceof Uint8Array ? new Uint8Array(v) : fail(key, WANT.bytes, v);
function bytesOfLength(n: number): Check<Uint8Array> {
  return (v, key) => (v instanceof Uint8Array && v.length === n ? new Uint8Array(v) : fail(key, `a ${n}-byte byte string`, v));
}
const textOrBytes: Check<string | Uint8Array> = (v, key) =>
  typeof v === "string" ? v : v instanceof Uint8Array ? new Uint8Array(v) : fail(key, WANT.textOrBytes, v);

function nullable<T>(check: Check<T>): Check<T | null> {
  return (v, key) => (v === null ? null : check(v, key));
}

function oneOf<T extends string | number>(values: readonly T[]): Check<T> {
  const want = wantOneOf(values);
  return (v, key) => (values.includes(v as T) ? (v as T) : fail(key, want, v));
}

function arrayOf<T>(check: Check<T>): Check<T[]> {
  return (v, key) => (Array.isArray(v) ? v.map((x, i) => check(x, `${key}[${i}]`)) : fail(key, WANT.array, v));
}

/**
 * For a key added within the major version (docs/FORMAT.md, "Versioning"):
 * a map without it, written before it existed, reads as holding `absent`.
 */
function orAbsent<T>(check: Check<T>, absent: T): OptionalCheck<T> {
  return Object.assign((v: unknown, key: string) => check(v, key), { absent });
}

// Builds a fresh object holding only the schema's keys: unknown keys (from a
// newer writer) are dropped here, and nothing else from the input survives.
function mapOf<T>(schema: Schema<T>): Check<T> {
  const keys = Object.keys(schema) as (keyof T & string)[];
  const checks = keys.map((k) => {
    const check: Check<T[typeof k]> | OptionalCheck<T[typeof k]> = schema[k];
    return { k, check, optional: "absent" in check, absent: "absent" in check ? check.absent : undefined };
  });
  return (v, path) => {
    if (!isMap(v)) fail(path, "a map", v);
    const out = {} as T;
    for (const { k, check, optional, absent } of checks) {
      const key = path === "" ? k : `${path}.${k}`;
      if (Object.hasOwn(v, k)) out[k] = check(v[k], key);
      else if (optional) out[k] = absent as T[typeof k];
      else throw new InvalidItemError(`missing key "${key}"`);
    }
    return out;
  };
}


// Each schema names every key of its interface in src/event.ts (the mapped
// type makes a new field there a compile error here until it is handled).
const headerSchema: Schema<CaptureHeader> = {
  type: oneOf(["header"]),
  format: oneOf([FORMAT_NAME]),
  version: oneOf([FORMAT_VERSION]),
  dmrec_version: text,
  host: mapOf({ hostname: text, kernel: text, boot_id: text, arch: text }),
  hook: oneOf(HOOK_NAMES),
  module_free: bool,
  find_module: bool,
  clock: mapOf({ boot_to_wall_ns: i64 }),
  budget: orAbsent(
    nullable(
      mapOf<EventBudget>({ period_ms: u32, key: u32, process: u32, global: u32, toctou_process: u32, toctou_global: u32 }),
    ),
    null,
  ),
  argv: arrayOf(text),
  start_ns: i64,
  set: mapOf<CaptureSet>({
    id: text,
    file_index: numberIn(1, 2 ** 32 - 1, "a positive 32-bit integer"),
    prev_file_hash: nullable(bytesOfLength(32)),
  }),
};

/** The name's reads and the name to show, alike in events and aggregates. */
const nameReads = {
  name_entry: nullable(bytes),
  name_entry_err: nullable(i32),
  name_exit: nullable(bytes),
  name_exit_err: nullable(i32),
  name_kernel: nullable(bytes),
  name: nullable(bytes),
};

const eventSchema: Schema<DmrecEvent> = {
  type: oneOf(["event"]),
  ts_ns: i64,
  boot_ns: u64,
  duration_ns: u64,
  hook: oneOf(HOOK_NAMES),
  pid: u32,
  tid: u32,
  ppid: u32,
  uid: u32,
  gid: u32,
  euid: u32,
  loginuid: u32,
  sessionid: u32,
  comm: textOrBytes,
  parent_comm: textOrBytes,
  exe: nullable(text),
  cgroup_id: u64,
  container_id: nullable(text),
  mntns: u32,
  pidns: u32,
  utsns: u32,
  cap_effective: u64,
  cap_sys_module: bool,
  name_ptr: u64,
  ...nameReads,
  flags: u32,
  flags_names: arrayOf(text),
  ret: safeInt,
  errno: nullable(text),
  freed: nullable(bool),
  forced: bool,
  toctou: nullable(bool),
  toctou_reason: arrayOf(oneOf(TOCTOU_REASONS)),
};

const lossSchema: Schema<LossRecord> = {
  type: oneOf(["loss"]),
  ts_ns: i64,
  count,
  reason: oneOf(LOSS_REASONS),
};

// An event's keys as far as a scope keeps them, the rest null (src/event.ts).
const aggregateSchema: Schema<AggregateRecord> = {
  type: oneOf(["aggregate"]),
  scope: oneOf(AGGREGATE_SCOPES),
  count,
  ts_ns: i64,
  last_ts_ns: i64,
  boot_ns: u64,
  last_boot_ns: u64,
  hook: oneOf(HOOK_NAMES),
  pid: nullable(u32),
  tid: nullable(u32),
  ppid: nullable(u32),
  uid: nullable(u32),
  gid: nullable(u32),
  euid: nullable(u32),
  loginuid: nullable(u32),
  sessionid: nullable(u32),
  comm: nullable(textOrBytes),
  parent_comm: nullable(textOrBytes),
  exe: nullable(text),
  cgroup_id: nullable(u64),
  container_id: nullable(text),
  mntns: nullable(u32),
  pidns: nullable(u32),
  utsns: nullable(u32),
  cap_effective: nullable(u64),
  cap_sys_module: nullable(bool),
  name_ptr: nullable(u64),
  ...nameReads,
  flags: nullable(u32),
  flags_names: arrayOf(text),
  ret: nullable(safeInt),
  errno: nullable(text),
  toctou: nullable(bool),
  toctou_reason: arrayOf(oneOf(TOCTOU_REASONS)),
};

/** Length of a SHA-256 hash, and of a raw Ed25519 public key. */
export const HASH_BYTES = 32;
export const SIGNATURE_BYTES = 64;

const segmentInfoSchema: Schema<SegmentInfo> = {
  type: oneOf(["segment"]),
  index: numberIn(1, 2 ** 32 - 1, "a positive 32-bit integer"),
  events: count,
  losses: count,
  lost_calls: count,
  aggregates: orAbsent(count, 0),
  aggregated_calls: orAbsent(count, 0),
  first_ts_ns: nullable(i64),
  last_ts_ns: nullable(i64),
  modules: arrayOf(bytes),
  modules_complete: bool,
};

const hexFingerprint: Check<string> = (v, key) =>
  typeof v === "string" && /^[0-9a-f]{64}$/.test(v) ? v : fail(key, "64 lowercase hex digits", v);

const sealInfoSchema: Schema<SealInfo> = {
  type: oneOf(["seal"]),
  segments: count,
  events: count,
  losses: count,
  lost_calls: count,
  aggregates: orAbsent(count, 0),
  aggregated_calls: orAbsent(count, 0),
  first_ts_ns: nullable(i64),
  last_ts_ns: nullable(i64),
  closed_ns: i64,
  final_hash: bytesOfLength(HASH_BYTES),
  signed_by: nullable(hexFingerprint),
};

interface SegmentHashItem {
  hash: Uint8Array;
}
interface SealHashItem {
  hash: Uint8Array;
  signature: Uint8Array | null;
}
const checkSegmentInfo = mapOf(segmentInfoSchema);
const checkSealInfo = mapOf(sealInfoSchema);
const checkSegmentHash = mapOf<SegmentHashItem>({ hash: bytesOfLength(HASH_BYTES) });
const checkSealHash = mapOf<SealHashItem>({
  hash: bytesOfLength(HASH_BYTES),
  signature: nullable(bytesOfLength(SIGNATURE_BYTES)),
});

const checkHeader = mapOf(headerSchema);
const checkEvent = mapOf(eventSchema);
const checkLoss = mapOf(lossSchema);
const checkAggregate = mapOf(aggregateSchema);

/** The keys of each segment item type, in the order they are written (docs/FORMAT.md's tables). */
export const ITEM_KEYS = {
  event: Object.keys(eventSchema) as (keyof DmrecEvent)[],
  loss: Object.keys(lossSchema) as (keyof LossRecord)[],
  aggregate: Object.keys(aggregateSchema) as (keyof AggregateRecord)[],
};

/**
 * Why a file whose first item is `value` is not a capture this dmrec reads,
 * or null when it is one: other files and other major versions are refused
 * before anything else about them is judged.
 */
export function headerRefusal(value: unknown): string | null {
  if (!isMap(value) || value.type !== "header" || value.format !== FORMAT_NAME) {
    return "not a dmrec capture (its first item is not a dmrec header)";
  }
  if (value.version !== FORMAT_VERSION) {
    return `capture format version ${String(value.version)} is not supported (this dmrec reads version ${FORMAT_VERSION})`;
  }
  return null;
}

/**
 * Checks and normalizes one decoded item: 64-bit fields become bigint, byte
 * strings fresh Uint8Arrays, unknown keys are dropped. Returns null for an
 * item type this version does not know (to be skipped); throws
 * InvalidItemError for a known type with missing or mistyped keys.
 */
export function toCaptureItem(value: unknown): CaptureItem | null {
  if (!isMap(value)) throw new InvalidItemError(`item is ${describe(value)}, not a map`);
  switch (value.type) {
    case "header":
      return checkHeader(value, "");
    case "event":
      return checkEvent(value, "");
    case "loss":
      return checkLoss(value, "");
    case "aggregate":
      return checkAggregate(value, "");
    default:
      return typeof value.type === "string" ? null : fail("type", "text", value.type);
  }
}

// cbor-x writes a number outside the 32-bit range as a float, which the
// format forbids and the reader refuses (a count past 4294967295 calls): as a
// bigint it gets the 8-byte integer head, which is its shortest form.
function exactIntegers(v: unknown): unknown {
  if (typeof v === "number") return Number.isInteger(v) && (v > 0xffffffff || v < -0x100000000) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(exactIntegers);
  if (!isMap(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = exactIntegers(x);
  return out;
}

/**
 * The CBOR encoding of one item, after the same checks the reader applies:
 * what the writer uses for the header (segment items go through encode.ts,
 * which is tested against this).
 */
export function encodeItem(item: CaptureItem): Uint8Array {
  const checked = toCaptureItem(item);
  if (!checked) throw new InvalidItemError(`unknown item type ${JSON.stringify(item.type)}`);
  return encoder.encode(exactIntegers(checked));
}

/**
 * Decodes a CBOR sequence, handing each top-level value to onValue in order.
 * Malformed CBOR throws after the values before it were handed over.
 */
export function decodeSequence(data: Uint8Array, onValue: (value: unknown) => void): void {
  decoder.decodeMultiple(data, (value: unknown) => {
    onValue(value);
  });
}

// ---------------------------------------------------------------------------
// The payloads of dmrec's skippable frames (docs/FORMAT.md, "Segment trailer"
// and "Seal"): two CBOR items, an info map and a hash map. The chain hashes
// cover the info map's exact bytes, so a reader splits the payload at item
// boundaries itself (cborItemEnd) instead of re-encoding what it decoded.

/** Nesting allowed in a meta payload: the real ones nest two deep. */
const META_MAX_DEPTH = 8;
/** Items allowed in a meta payload: version 1 writes two. */
const META_MAX_ITEMS = 16;

/**
 * Offset just past the CBOR data item starting at bytes[pos]. Accepts only
 * what the format allows (definite lengths, no tags) and never reads past the
 * end: a length pointing past it, or nesting deeper than maxDepth, throws
 * InvalidItemError. Work is bounded by the bytes scanned.
 */
export function cborItemEnd(bytes: Uint8Array, pos: number, maxDepth: number = META_MAX_DEPTH): number {
  // An explicit stack of "items still to read" per open container, so that
  // depth costs no recursion.
  const pending: number[] = [1];
  while (pending.length > 0) {
    if (pending[pending.length - 1] === 0) {
      pending.pop();
      continue;
    }
    pending[pending.length - 1]!--;
    if (pos >= bytes.length) throw new InvalidItemError(`CBOR: item cut at byte ${pos}`);
    const ib = bytes[pos]!;
    const major = ib >> 5;
    const ai = ib & 0x1f;
    pos++;
    let arg: number;
    if (ai < 24) arg = ai;
    else if (ai <= 27) {
      const size = 1 << (ai - 24);
      if (pos + size > bytes.length) throw new InvalidItemError(`CBOR: item cut at byte ${pos}`);
      arg = 0;
      for (let i = 0; i < size; i++) arg = arg * 256 + bytes[pos + i]!;
      pos += size;
    } else if (ai === 31) {
      throw new InvalidItemError(`CBOR: indefinite length at byte ${pos - 1}`);
    } else {
      throw new InvalidItemError(`CBOR: reserved additional information ${ai} at byte ${pos - 1}`);
    }
    switch (major) {
      case 0:
      case 1:
      case 7: // simple values and floats: the argument was the whole value
        break;
      case 2:
      case 3:
        if (arg > bytes.length - pos) throw new InvalidItemError(`CBOR: string of ${arg} bytes at byte ${pos} runs past the end`);
        pos += arg;
        break;
      case 4:
      case 5: {
        const n = major === 4 ? arg : arg * 2;
        // Each element takes at least one byte: a larger count is a lie.
        if (n > bytes.length - pos) throw new InvalidItemError(`CBOR: ${n} elements at byte ${pos} cannot fit`);
        if (pending.length > maxDepth) throw new InvalidItemError(`CBOR: nested deeper than ${maxDepth}`);
        pending.push(n);
        break;
      }
      default:
        throw new InvalidItemError(`CBOR: tag at byte ${pos - 1}`);
    }
  }
  return pos;
}

export interface SegmentTrailer {
  type: "segment";
  info: SegmentInfo;
  /** the info item's exact bytes, as hashed */
  infoRaw: Uint8Array;
  hash: Uint8Array;
}

export interface SealRecord {
  type: "seal";
  info: SealInfo;
  infoRaw: Uint8Array;
  hash: Uint8Array;
  signature: Uint8Array | null;
}

/** A dmrec skippable frame's payload, decoded and checked. */
export type MetaRecord = SegmentTrailer | SealRecord | { type: "unknown"; name: string };

function decodeOne(raw: Uint8Array): unknown {
  try {
    return decoder.decode(raw);
  } catch (e) {
    throw new InvalidItemError(`CBOR: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Decodes the payload of a skippable frame with DMREC_META_MAGIC. Throws
 * InvalidItemError when it is not CBOR, not the two items its type needs, or
 * an item does not match its schema. An unknown `type` is returned as such
 * (readers skip it, verify refuses it).
 */
export function decodeMeta(payload: Uint8Array): MetaRecord {
  const raws: Uint8Array[] = [];
  for (let pos = 0; pos < payload.length; ) {
    if (raws.length === META_MAX_ITEMS) throw new InvalidItemError(`more than ${META_MAX_ITEMS} items`);
    const end = cborItemEnd(payload, pos);
    raws.push(payload.subarray(pos, end));
    pos = end;
  }
  if (raws.length === 0) throw new InvalidItemError("empty payload");
  const first = decodeOne(raws[0]!);
  if (!isMap(first)) throw new InvalidItemError(`first item is ${describe(first)}, not a map`);
  const type = first.type;
  if (type !== "segment" && type !== "seal") {
    return typeof type === "string" ? { type: "unknown", name: type } : fail("type", "text", type);
  }
  if (raws.length !== 2) throw new InvalidItemError(`a ${type} payload holds 2 items, this one ${raws.length}`);
  const infoRaw = new Uint8Array(raws[0]!);
  const second = decodeOne(raws[1]!);
  if (type === "segment") {
    return { type, info: checkSegmentInfo(first, ""), infoRaw, hash: checkSegmentHash(second, "").hash };
  }
  const { hash, signature } = checkSealHash(second, "");
  return { type, info: checkSealInfo(first, ""), infoRaw, hash, signature };
}

/** decodeMeta, or null for a payload that is not a valid dmrec record (for readers that only use it to skip work). */
export function tryDecodeMeta(payload: Uint8Array): MetaRecord | null {
  try {
    return decodeMeta(payload);
  } catch (e) {
    if (e instanceof InvalidItemError) return null;
    throw e;
  }
}

/** The CBOR bytes of a segment or seal info map, after its schema check. */
export function encodeMetaInfo(info: SegmentInfo | SealInfo): Uint8Array {
  const checked = info.type === "segment" ? checkSegmentInfo(info, "") : checkSealInfo(info, "");
  return encoder.encode(exactIntegers(checked));
}

/** The CBOR bytes of a trailer's or seal's second item. */
export function encodeMetaHash(item: { hash: Uint8Array } | { hash: Uint8Array; signature: Uint8Array | null }): Uint8Array {
  const checked = "signature" in item ? checkSealHash(item, "") : checkSegmentHash(item, "");
  return encoder.encode(checked);
}
