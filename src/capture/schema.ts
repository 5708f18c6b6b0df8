// The item tables of docs/FORMAT.md as data. Each key's field knows how to
// check a JavaScript value (what the writer does before it encodes) and how
// to decode the value from CBOR bytes (what the reader does, through the
// strict cursor of cbor.ts), so that writing and reading hold the format to
// one description. Decoding goes straight from the bytes to the checked
// object: no intermediate value is built, unknown keys are skipped (checked,
// not kept), and a value of the wrong kind is refused where it stands.
import {
  AGGREGATE_SCOPES,
  HOOK_NAMES,
  LOSS_REASONS,
  TOCTOU_REASONS,
  type AggregateRecord,
  type CaptureHeader,
  type CaptureItem,
  type CaptureSet,
  type CaptureSigning,
  type ClockRecord,
  type DmrecEvent,
  type EventBudget,
  type KeyEndorsement,
  type LossRecord,
  type SealInfo,
  type SegmentInfo,
} from "../event.ts";
import { type Cursor, duplicateKey, InvalidItemError } from "./cbor.ts";

export const FORMAT_NAME = "dmrec-capture";
/** The major version this code writes ... */
export const FORMAT_VERSION = 2;
/** ... and the ones it reads: version 1 files have no key chain. */
export const READ_VERSIONS: readonly number[] = [1, 2];
/** Length of a SHA-256 hash, and of a raw Ed25519 public key. */
export const HASH_BYTES = 32;
export const SIGNATURE_BYTES = 64;

/**
 * One key's value: `check` takes a JavaScript value (and returns it
 * normalized: bigint for 64-bit fields, fresh Uint8Arrays), `decode` reads it
 * from a cursor. Both throw InvalidItemError with the same words.
 */
export interface Field<T> {
  check(v: unknown, key: string): T;
  decode(c: Cursor, key: string, depth: number): T;
}
/** A key files written before it existed lack: reading one of those, its value is `absent`. */
type OptionalField<T> = Field<T> & { readonly absent: T };
type Schema<T> = { [K in keyof T]-?: Field<T[K]> | OptionalField<T[K]> };

/**
 * What a value must be, in the words of the InvalidItemError messages: the
 * schemas and the fast encoder (encode.ts) refuse alike.
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
  map: "a map",
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
  if (typeof v === "object") return isPlainObject(v) ? "a map" : "a tagged value";
  return typeof v;
}

/** Throws the InvalidItemError for key `key` holding `got` where `want` belongs. */
export function fail(key: string, want: string, got: unknown): never {
  throw new InvalidItemError(`key "${key}": expected ${want}, got ${describe(got)}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

// A JavaScript integer arrives as number or bigint: both are accepted and
// normalized, and a float is refused even when integral-looking.
function bigintCheck(min: bigint, max: bigint, want: string): Field<bigint>["check"] {
  return (v, key) => {
    const n = typeof v === "bigint" ? v : Number.isSafeInteger(v) ? BigInt(v as number) : fail(key, want, v);
    return n >= min && n <= max ? n : fail(key, want, v);
  };
}

function numberIn(min: number, max: number, want: string): Field<number> {
  return {
    check: (v, key) => {
      const n = typeof v === "bigint" && v >= BigInt(min) && v <= BigInt(max) ? Number(v) : v;
      return Number.isSafeInteger(n) && (n as number) >= min && (n as number) <= max ? (n as number) : fail(key, want, v);
    },
    decode: (c, key) => c.int(key, want, min, max),
  };
}

const u64: Field<bigint> = { check: bigintCheck(0n, 2n ** 64n - 1n, WANT.u64), decode: (c, key) => c.u64(key, WANT.u64) };
const i64: Field<bigint> = { check: bigintCheck(-(2n ** 63n), 2n ** 63n - 1n, WANT.i64), decode: (c, key) => c.i64(key, WANT.i64) };
const u32 = numberIn(0, 2 ** 32 - 1, WANT.u32);
const i32 = numberIn(-(2 ** 31), 2 ** 31 - 1, WANT.i32);
const positive32 = numberIn(1, 2 ** 32 - 1, "a positive 32-bit integer");
const safeInt = numberIn(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, WANT.int);
const count = numberIn(0, Number.MAX_SAFE_INTEGER, WANT.count);

const text: Field<string> = {
  check: (v, key) => (typeof v === "string" ? v : fail(key, WANT.text, v)),
  decode: (c, key) => c.text(key, WANT.text),
};
const bool: Field<boolean> = {
  check: (v, key) => (typeof v === "boolean" ? v : fail(key, WANT.bool, v)),
  decode: (c, key) => c.bool(key, WANT.bool),
};
// A copy, so that an item never shares memory with what it came from.
const bytes: Field<Uint8Array> = {
  check: (v, key) => (v instanceof Uint8Array ? new Uint8Array(v) : fail(key, WANT.bytes, v)),
  decode: (c, key) => c.bytes(key, WANT.bytes),
};
function bytesOfLength(n: number): Field<Uint8Array> {
  const want = `a ${n}-byte byte string`;
  return {
    check: (v, key) => (v instanceof Uint8Array && v.length === n ? new Uint8Array(v) : fail(key, want, v)),
    decode: (c, key) => c.bytes(key, want, n),
  };
}
const textOrBytes: Field<string | Uint8Array> = {
  check: (v, key) => (typeof v === "string" ? v : v instanceof Uint8Array ? new Uint8Array(v) : fail(key, WANT.textOrBytes, v)),
  decode: (c, key) => c.textOrBytes(key, WANT.textOrBytes),
};
const hexFingerprint: Field<string> = {
  check: (v, key) => (typeof v === "string" && /^[0-9a-f]{64}$/.test(v) ? v : fail(key, "64 lowercase hex digits", v)),
  decode(c, key) {
    const at = c.pos;
    const v = c.text(key, "64 lowercase hex digits");
    if (/^[0-9a-f]{64}$/.test(v)) return v;
    c.pos = at;
    return c.wrong(key, "64 lowercase hex digits");
  },
};

function nullable<T>(f: Field<T>): Field<T | null> {
  return {
    check: (v, key) => (v === null ? null : f.check(v, key)),
    decode: (c, key, depth) => (c.null() ? null : f.decode(c, key, depth)),
  };
}

const utf8 = new TextEncoder();

/** The CBOR encoding of a text string (short: keys and enumerated values). */
export function encodedText(s: string): Uint8Array {
  const b = utf8.encode(s);
  const head = b.length < 24 ? [0x60 | b.length] : b.length < 256 ? [0x78, b.length] : [0x79, b.length >> 8, b.length & 0xff];
  return new Uint8Array([...head, ...b]);
}

/** Text that must be one of `values`: compared as bytes first, so a known value costs no decoding. */
function oneOf<T extends string>(values: readonly T[]): Field<T> {
  const want = wantOneOf(values);
  const encoded = values.map(encodedText);
  return {
    check: (v, key) => (values.includes(v as T) ? (v as T) : fail(key, want, v)),
    decode(c, key) {
      for (let i = 0; i < encoded.length; i++) if (c.take(encoded[i]!)) return values[i]!;
      const at = c.pos;
      const v = c.text(key, want);
      if (values.includes(v as T)) return v as T;
      c.pos = at;
      return c.wrong(key, want);
    },
  };
}

function between(min: number, max: number): Field<number> {
  const want = `an integer from ${min} to ${max}`;
  return {
    check: (v, key) => (Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? (v as number) : fail(key, want, v)),
    decode: (c, key) => c.int(key, want, min, max),
  };
}

function arrayOf<T>(f: Field<T>): Field<T[]> {
  return {
    check: (v, key) => (Array.isArray(v) ? v.map((x, i) => f.check(x, `${key}[${i}]`)) : fail(key, WANT.array, v)),
    decode(c, key, depth) {
      if (depth >= c.maxDepth) throw new InvalidItemError(`CBOR: containers nested more than ${c.maxDepth} deep`, c.pos);
      const n = c.arrayHead(key, WANT.array);
      const out: T[] = [];
      for (let i = 0; i < n; i++) {
        try {
          out.push(f.decode(c, key, depth + 1));
        } catch (e) {
          // The element's place goes into the message only when there is one to give.
          if (e instanceof InvalidItemError && e.message.startsWith(`key "${key}":`)) {
            throw new InvalidItemError(`key "${key}[${i}]"${e.message.slice(key.length + 6)}`, e.at);
          }
          throw e;
        }
      }
      return out;
    },
  };
}

/**
 * For a key added within the major version (docs/FORMAT.md, "Versioning"):
 * a map without it, written before it existed, reads as holding `absent`.
 */
function orAbsent<T>(f: Field<T>, absent: T): OptionalField<T> {
  return { ...f, absent };
}

/**
 * A run longer than this is not kept (a crafted item's megabyte arguments): copying it for
 * the next item would cost more than decoding it again.
 */
const RUN_BYTES = 16 << 10;

/**
 * Keys that follow one another in a map and whose values tend to repeat from one item
 * to the next (an event's process context, its name reads, its process image): the
 * first and the last key of each.
 */
type Runs<T> = readonly (readonly [keyof T & string, keyof T & string])[];

/**
 * A run of keys as last decoded in order: its bytes (keys and values, copied), the
 * values they gave, and the data items its containers spent.
 */
interface Run {
  start: number;
  end: number;
  bytes: Uint8Array | null;
  values: unknown[];
  items: number;
  /** the map's depth, and the cursor's limit on it */
  depth: number;
  maxDepth: number;
}

/**
 * A map with exactly the schema's keys: others (from a newer writer) are
 * dropped, each key counts once, and the result is a fresh object.
 *
 * A run (`runs`) whose bytes are those it had in the previous map decoded gives that
 * map's values again (the same values: no reader writes to an item), checked by
 * comparing its bytes: a flood repeats most of each event, and decoding it field by
 * field was most of reading one. Nothing is skipped that was not checked: the bytes are
 * the ones the strict decoder took last time, at the same depth, with the same keys
 * still to come, and anything else (a key given twice, an unknown key, the frame's data
 * items running out) is decoded field by field, to fail where and as it would have.
 */
function mapOf<T>(schema: Schema<T>, runs: Runs<T> = []): Field<T> {
  const fields = (Object.keys(schema) as (keyof T & string)[]).map((k) => {
    const field: Field<T[typeof k]> | OptionalField<T[typeof k]> = schema[k];
    return { key: k, field, encodedKey: encodedText(k), optional: "absent" in field, absent: "absent" in field ? field.absent : undefined };
  });
  const index = new Map<string, number>(fields.map((f, i) => [f.key, i]));
  const runAt: (Run | undefined)[] = new Array(fields.length);
  for (const [first, last] of runs) {
    const start = index.get(first)!;
    const end = index.get(last)! + 1;
    runAt[start] = { start, end, bytes: null, values: [], items: 0, depth: -1, maxDepth: -1 };
  }
  // Which fields the map being decoded has given, by stamp: no clearing per map.
  const seen = new Int32Array(fields.length);
  let stamp = 0;
  // Values are decoded into `values` and the object made in one literal, whose shape the
  // engine knows: adding ~45 properties one by one was a third of decoding an event. The
  // keys are the schema's own (static text), never the file's.
  const values: unknown[] = new Array(fields.length);
  const build = new Function("v", `return {${fields.map((f, i) => `${JSON.stringify(f.key)}: v[${i}]`).join(", ")}};`) as (v: unknown[]) => T;
  return {
    check(v, path) {
      if (!isPlainObject(v)) fail(path, WANT.map, v);
      const out: Record<string, unknown> = {};
      for (const f of fields) {
        const key = path === "" ? f.key : `${path}.${f.key}`;
        if (Object.hasOwn(v, f.key)) out[f.key] = f.field.check(v[f.key], key);
        else if (f.optional) out[f.key] = f.absent;
        else throw new InvalidItemError(`missing key "${key}"`);
      }
      return out as T;
    },
    decode(c, path, depth) {
      const start = c.pos;
      if (depth >= c.maxDepth) throw new InvalidItemError(`CBOR: containers nested more than ${c.maxDepth} deep`, start);
      const n = c.mapHead(path === "" ? "item" : path, WANT.map);
      if (++stamp === 0x7fffffff) {
        seen.fill(0);
        stamp = 1;
      }
      const mine = stamp;
      let given = 0;
      let next = 0;
      let unknown: Set<string> | null = null;
      // The run being decoded field by field, where it began and the data items left then.
      let tracked: Run | null = null;
      let trackedFrom = 0;
      let trackedItems = 0;
      for (let p = 0; p < n; p++) {
        const at = c.pos;
        const run = runAt[next];
        if (run !== undefined) {
          if (
            run.bytes !== null &&
            run.depth === depth &&
            run.maxDepth === c.maxDepth &&
            p + (run.end - run.start) <= n &&
            c.dataItems >= run.items &&
            unseen(seen, mine, run) &&
            c.take(run.bytes)
          ) {
            for (let k = run.start; k < run.end; k++) {
              values[k] = run.values[k - run.start];
              seen[k] = mine;
            }
            c.spend(run.items);
            given += run.end - run.start;
            p += run.end - run.start - 1;
            next = run.end;
            continue;
          }
          tracked = run;
          trackedFrom = at;
          trackedItems = c.dataItems;
        }
        // A dmrec writer puts the keys in the schema's order: the next one is tried as bytes first.
        let i = next < fields.length && c.take(fields[next]!.encodedKey) ? next : -1;
        if (i < 0) {
          const k = c.key();
          const known = index.get(k);
          if (tracked !== null) {
            // Out of order: the run's bytes are not its keys alone, one after the other.
            tracked.bytes = null;
            tracked = null;
          }
          if (known === undefined) {
            unknown ??= new Set();
            if (unknown.has(k)) throw duplicateKey(k, at);
            unknown.add(k);
            c.skip(depth + 1);
            continue;
          }
          i = known;
        }
        const f = fields[i]!;
        if (seen[i] === mine) throw duplicateKey(f.key, at);
        seen[i] = mine;
        given++;
        next = i + 1;
        values[i] = f.field.decode(c, path === "" ? f.key : `${path}.${f.key}`, depth + 1);
        if (tracked !== null && i === tracked.end - 1) {
          tracked.bytes = c.pos - trackedFrom <= RUN_BYTES ? c.buf.slice(trackedFrom, c.pos) : null;
          tracked.values = values.slice(tracked.start, tracked.end);
          tracked.items = trackedItems - c.dataItems;
          tracked.depth = depth;
          tracked.maxDepth = c.maxDepth;
          tracked = null;
        }
      }
      // A run the map ended within is not kept as it was.
      if (tracked !== null) tracked.bytes = null;
      if (given < fields.length) {
        fields.forEach((f, i) => {
          if (seen[i] === mine) return;
          if (!f.optional) throw new InvalidItemError(`missing key "${path === "" ? f.key : `${path}.${f.key}`}"`, start);
          values[i] = f.absent;
        });
      }
      return build(values);
    },
  };
}

function unseen(seen: Int32Array, mine: number, run: Run): boolean {
  for (let k = run.start; k < run.end; k++) if (seen[k] === mine) return false;
  return true;
}

// Each schema names every key of its interface in src/event.ts (the mapped
// type makes a new field there a compile error here until it is handled).
const headerSchema: Schema<CaptureHeader> = {
  type: oneOf(["header"]),
  format: oneOf([FORMAT_NAME]),
  version: between(Math.min(...READ_VERSIONS), Math.max(...READ_VERSIONS)),
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
  set: mapOf<CaptureSet>({ id: text, file_index: positive32, prev_file_hash: nullable(bytesOfLength(HASH_BYTES)) }),
  signing: orAbsent(
    nullable(
      mapOf<CaptureSigning>({
        scheme: text,
        first_key: bytesOfLength(HASH_BYTES),
        endorsement: nullable(mapOf<KeyEndorsement>({ fingerprint: hexFingerprint, signature: bytesOfLength(SIGNATURE_BYTES) })),
      }),
    ),
    null,
  ),
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

/** What the task ran (src/event.ts ProcessImage): absent in files written before dmrec read it. */
const processImage = {
  exe_inode: orAbsent(nullable(u64), null),
  exe_dev: orAbsent(nullable(text), null),
  exe_deleted: orAbsent(nullable(bool), null),
  exe_truncated: orAbsent(nullable(bool), null),
  exe_unreachable: orAbsent(nullable(bool), null),
  parent_exe: orAbsent(nullable(text), null),
  argv: orAbsent(nullable(arrayOf(bytes)), null),
  argv_err: orAbsent(nullable(i32), null),
  argv_truncated: orAbsent(nullable(bool), null),
  tty: orAbsent(nullable(text), null),
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
  ...processImage,
};

const clockSchema: Schema<ClockRecord> = {
  type: oneOf(["clock"]),
  ts_ns: i64,
  boot_ns: u64,
  prev_boot_ns: u64,
  old_boot_to_wall_ns: i64,
  boot_to_wall_ns: i64,
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
  ...processImage,
};

/** What an index entry and the seal count, alike: the seal sums the entries. */
const counted = {
  events: count,
  losses: count,
  lost_calls: count,
  aggregates: orAbsent(count, 0),
  aggregated_calls: orAbsent(count, 0),
  clock_steps: orAbsent(count, 0),
  first_ts_ns: nullable(i64),
  last_ts_ns: nullable(i64),
};

const segmentInfoSchema: Schema<SegmentInfo> = {
  type: oneOf(["segment"]),
  index: positive32,
  ...counted,
  modules: arrayOf(bytes),
  modules_complete: bool,
};

const sealInfoSchema: Schema<SealInfo> = {
  type: oneOf(["seal"]),
  segments: count,
  ...counted,
  closed_ns: i64,
  final_hash: bytesOfLength(HASH_BYTES),
  signed_by: nullable(hexFingerprint),
};

/**
 * A trailer's second item. `next_key` and `signature` are the key chain's
 * (version 2); a version 1 trailer has neither, and reads as null for both.
 */
export interface SegmentHashItem {
  hash: Uint8Array;
  next_key: Uint8Array | null;
  signature: Uint8Array | null;
}
/**
 * The seal's second item: in version 1 the long-term key's signature of the
 * seal's info item, or null; in version 2 the chain's last key's signature,
 * and the next file's first key (null for the last file of a set), which a
 * version 1 seal lacks.
 */
export interface SealHashItem {
  hash: Uint8Array;
  signature: Uint8Array | null;
  next_file_key: Uint8Array | null;
}

/** The map of each item and payload item type. */
export const ITEMS = {
  header: mapOf(headerSchema),
  event: mapOf(eventSchema, [
    ["ppid", "cap_sys_module"],
    ["name_entry", "toctou_reason"],
    ["exe_inode", "tty"],
  ]),
  loss: mapOf(lossSchema),
  aggregate: mapOf(aggregateSchema),
  clock: mapOf(clockSchema),
  segmentInfo: mapOf(segmentInfoSchema),
  sealInfo: mapOf(sealInfoSchema),
  segmentHash: mapOf<SegmentHashItem>({
    hash: bytesOfLength(HASH_BYTES),
    next_key: orAbsent(bytesOfLength(HASH_BYTES), null),
    signature: orAbsent(bytesOfLength(SIGNATURE_BYTES), null),
  }),
  sealHash: mapOf<SealHashItem>({
    hash: bytesOfLength(HASH_BYTES),
    signature: nullable(bytesOfLength(SIGNATURE_BYTES)),
    next_file_key: orAbsent(nullable(bytesOfLength(HASH_BYTES)), null),
  }),
};

/** The keys of each segment item type, in the order they are written (docs/FORMAT.md's tables). */
export const ITEM_KEYS = {
  event: Object.keys(eventSchema) as (keyof DmrecEvent)[],
  loss: Object.keys(lossSchema) as (keyof LossRecord)[],
  aggregate: Object.keys(aggregateSchema) as (keyof AggregateRecord)[],
  clock: Object.keys(clockSchema) as (keyof ClockRecord)[],
};

/**
 * Checks and normalizes one item given as a JavaScript value (what the
 * writer encodes): 64-bit fields become bigint, byte strings fresh
 * Uint8Arrays, unknown keys are dropped. Returns null for an item type this
 * version does not know; throws InvalidItemError for a known type with
 * missing or mistyped keys.
 */
export function toCaptureItem(value: unknown): CaptureItem | null {
  if (!isPlainObject(value)) throw new InvalidItemError(`item is ${describe(value)}, not a map`);
  switch (value.type) {
    case "header":
      return ITEMS.header.check(value, "");
    case "event":
      return ITEMS.event.check(value, "");
    case "loss":
      return ITEMS.loss.check(value, "");
    case "aggregate":
      return ITEMS.aggregate.check(value, "");
    case "clock":
      return ITEMS.clock.check(value, "");
    default:
      return typeof value.type === "string" ? null : fail("type", WANT.text, value.type);
  }
}
