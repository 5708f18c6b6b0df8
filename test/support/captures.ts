// Shared by the capture tests (capture, encode, verify, interop, fuzz, strict,
// limits): a header and items covering the value space, seeded random items,
// writing and reading captures, frame surgery on real files (cutting a file
// into header, segments and seal) and CBOR surgery on items (a value replaced,
// a pair added, located by an independent decoder).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { decodeFirst, encode as cborgEncode } from "cborg";
import { readCapture, type ReadOptions } from "../../src/capture/reader.ts";
import { SegmentEncoder } from "../../src/capture/encode.ts";
import { sha256 } from "../../src/capture/chain.ts";
import { CHAIN_SCHEME, ChainKey } from "../../src/capture/keychain.ts";
import { FORMAT_VERSION } from "../../src/capture/schema.ts";
import { CaptureWriter, type WriterOptions } from "../../src/capture/writer.ts";
import { walkFrames, type ZstdFrame } from "../../src/capture/zstd_frames.ts";
import {
  AGGREGATE_SCOPES,
  HOOK_NAMES,
  LOSS_REASONS,
  TOCTOU_REASONS,
  type AggregateRecord,
  type CaptureHeader,
  type CaptureItem,
  type ClockRecord,
  type DmrecEvent,
  type LossRecord,
  type SegmentItem,
} from "../../src/event.ts";
import { zstdCompress } from "../../src/runtime.ts";
import { latin1, makeAggregate, makeEvent } from "./events.ts";

export { skippableFrame } from "../../src/capture/zstd_frames.ts";
import { concat } from "../../src/bytes.ts";
export { concat };

export const ROOT = resolve(import.meta.dir, "../..");

/** A temporary directory and numbered paths in it; call cleanup() in afterAll. */
export function tempDir(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let n = 0;
  return {
    dir,
    path: (name = "c.cbor.zst") => join(dir, `${++n}-${name}`),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export const SET_ID = "5f0c3e1a-8d2b-4c47-9a61-0d1e2f3a4b5c";

/**
 * Chain keys from a label and a counter: the same keys on every run, so that
 * what is read back compares equal and fixtures are reproducible. Anyone
 * can compute them: never for a real capture.
 */
export function pinnedKeys(label = "dmrec test keys"): () => ChainKey {
  let n = 0;
  return () => new ChainKey(sha256(new TextEncoder().encode(label), Uint8Array.of(n >> 24, n >> 16, n >> 8, n++ & 0xff)));
}

/** The first key pinnedKeys() gives: the one in `header`. */
export const TEST_FIRST_KEY = pinnedKeys()().publicKey;

/** The header writeCapture writes (the writer sets version and signing, here as it will). */
export const header: CaptureHeader = {
  type: "header",
  format: "dmrec-capture",
  version: FORMAT_VERSION,
  dmrec_version: "0.1.0",
  host: { hostname: "host1", kernel: "6.18.0", boot_id: "0b7c1d7e-1f1e-4c4c-9d9d-000000000001", arch: "x86_64" },
  hook: "raw-syscalls",
  module_free: false,
  find_module: false,
  clock: { boot_to_wall_ns: 1764000000000000000n },
  budget: { period_ms: 1000, key: 64, process: 256, global: 4096, toctou_process: 64, toctou_global: 1024 },
  argv: ["dmrec", "record", "--out", "c.cbor.zst"],
  start_ns: 1764118674000000000n,
  set: { id: SET_ID, file_index: 1, prev_file_hash: null },
  signing: { scheme: CHAIN_SCHEME, first_key: TEST_FIRST_KEY, endorsement: null },
};

export const loss: LossRecord = { type: "loss", ts_ns: 1764118675000000000n, count: 17, reason: "ringbuf_full" };

/** Events covering the value space: 64-bit extremes, non-UTF-8 bytes, nulls. */
export function sampleEvents(n: number): DmrecEvent[] {
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

/**
 * Aggregates of each scope covering the value space: what each scope keeps
 * (the rest null), 64-bit extremes, counts past 32 bits, a TOCTOU verdict,
 * names that are not UTF-8, comm as bytes.
 */
export function sampleAggregates(): AggregateRecord[] {
  const nobody = {
    pid: null, tid: null, ppid: null, uid: null, gid: null, euid: null, loginuid: null, sessionid: null,
    comm: null, parent_comm: null, exe: null, cgroup_id: null, container_id: null, mntns: null, pidns: null,
    utsns: null, cap_effective: null, cap_sys_module: null, ret: null, errno: null,
  } satisfies Partial<AggregateRecord>;
  const noName = {
    name_ptr: null, name_entry: null, name_entry_err: null, name_exit: null, name_exit_err: null,
    name_kernel: null, name: null, flags: null, flags_names: [], toctou: null, toctou_reason: [],
  } satisfies Partial<AggregateRecord>;
  return [
    makeAggregate(),
    makeAggregate({
      count: 2 ** 33 + 5,
      ts_ns: -(2n ** 63n),
      last_ts_ns: 2n ** 63n - 1n,
      boot_ns: 0n,
      last_boot_ns: 2n ** 64n - 1n,
      comm: latin1("flÿod"),
      cgroup_id: 2n ** 64n - 1n,
      cap_effective: 0x1ff_ffff_ffffn,
      cap_sys_module: true,
      name: latin1("duþ"),
      name_entry: latin1("duþ"),
      name_exit: latin1("dummy"),
      name_kernel: null,
      toctou: true,
      toctou_reason: ["entry!=exit"],
      exe: "/usr/bin/flööd",
      container_id: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    }),
    makeAggregate({ name_entry: null, name_entry_err: -14, name: latin1("nosuch"), toctou: null, ret: -1, errno: "EPERM" }),
    makeAggregate({ scope: "process", count: 1, ...noName }),
    makeAggregate({ scope: "all", count: 0, hook: "raw-syscalls", ...nobody, ...noName }),
  ];
}

/** sfc32: small, fast, seedable, so that a failure names the seed that reproduces it. */
export function rng(seed: number) {
  let a = 0x9e3779b9,
    b = 0x243f6a88,
    c = 0xb7e15162,
    d = seed >>> 0;
  const next = () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  const int = (n: number) => Math.floor(next() * n);
  return { int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]!, chance: (p: number) => next() < p };
}
export type Rng = ReturnType<typeof rng>;

/**
 * Random segment items of every type, every field drawn from its whole
 * range with its encoding's edges (head sizes, 32 and 64 bits, null)
 * favoured, text in 1- to 4-byte UTF-8 characters.
 */
export function randomItems(r: Rng, n: number): SegmentItem[] {
  const edges = [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1];
  const u32 = () => (r.chance(0.5) ? r.pick(edges) : r.int(2 ** 32));
  const i32 = () => (r.chance(0.3) ? r.pick([0, -1, -24, -25, -256, -257, -65536, -65537, -(2 ** 31), 2 ** 31 - 1]) : r.int(2 ** 32) - 2 ** 31);
  const bits64 = () => (BigInt(r.int(2 ** 32)) << 32n) | BigInt(r.int(2 ** 32));
  const u64 = () => (r.chance(0.3) ? r.pick([0n, 1n, 23n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]) : bits64());
  const i64 = () => BigInt.asIntN(64, u64());
  const safe = () =>
    r.chance(0.5) ? r.pick([0, -1, -2, 2 ** 32, -(2 ** 32) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) : (r.int(2 ** 21) * 2 ** 32 + r.int(2 ** 32)) * (r.chance(0.5) ? 1 : -1);
  // Up to 2^41: past 32 bits, yet a file's sum of thousands stays exact (below 2^53).
  const count = () => (r.chance(0.3) ? r.pick([0, 1, 23, 24, 2 ** 32 - 1, 2 ** 32]) : r.int(2 ** 21) * 2 ** 20 + r.int(2 ** 20));
  const alphabets = ["abcdefghijklmnopqrstuvwxyz_-./0123456789", "äöüéçñß€", "漢字カナ한글", "😀🚀🐧", "\u0000\u001f\u007f"];
  const text = () => {
    const len = r.pick([0, 1, 23, 24, 63, 64, 85, 86, 255, 256, r.int(40), r.int(300)]);
    let s = "";
    const alphabet = [...r.pick(alphabets), ...(r.chance(0.3) ? r.pick(alphabets) : "")];
    while (s.length < len) s += r.pick(alphabet);
    return s;
  };
  const bytes = () => crypto.getRandomValues(new Uint8Array(r.pick([0, 1, 23, 24, 32, 33, 55, 255, 256, r.int(64), r.int(300)])));
  const orNull = <T>(f: () => T): T | null => (r.chance(0.2) ? null : f());
  const textOrBytes = () => (r.chance(0.5) ? text() : bytes());
  const texts = () => Array.from({ length: r.pick([0, 0, 1, 2, 5, 24]) }, text);
  const reasons = () => TOCTOU_REASONS.filter(() => r.chance(0.4));
  const bool = () => r.chance(0.5);
  const image = () => ({
    exe_inode: orNull(u64),
    exe_dev: orNull(text),
    exe_deleted: orNull(bool),
    exe_truncated: orNull(bool),
    exe_unreachable: orNull(bool),
    parent_exe: orNull(text),
    argv: orNull(() => Array.from({ length: r.pick([0, 1, 2, 3, 24]) }, bytes)),
    argv_err: orNull(i32),
    argv_truncated: orNull(bool),
    tty: orNull(text),
  });
  const event = (): DmrecEvent => ({
    type: "event",
    ts_ns: i64(),
    boot_ns: u64(),
    duration_ns: u64(),
    hook: r.pick(HOOK_NAMES),
    pid: u32(),
    tid: u32(),
    ppid: u32(),
    uid: u32(),
    gid: u32(),
    euid: u32(),
    loginuid: u32(),
    sessionid: u32(),
    comm: textOrBytes(),
    parent_comm: textOrBytes(),
    exe: orNull(text),
    cgroup_id: u64(),
    container_id: orNull(text),
    mntns: u32(),
    pidns: u32(),
    utsns: u32(),
    cap_effective: u64(),
    cap_sys_module: r.chance(0.5),
    name_ptr: u64(),
    name_entry: orNull(bytes),
    name_entry_err: orNull(i32),
    name_exit: orNull(bytes),
    name_exit_err: orNull(i32),
    name_kernel: orNull(bytes),
    name: orNull(bytes),
    flags: u32(),
    flags_names: texts(),
    ret: safe(),
    errno: orNull(text),
    freed: orNull(() => r.chance(0.5)),
    forced: r.chance(0.5),
    toctou: orNull(() => r.chance(0.5)),
    toctou_reason: reasons(),
    ...image(),
  });
  const loss = (): LossRecord => ({ type: "loss", ts_ns: i64(), count: count(), reason: r.pick(LOSS_REASONS) });
  const aggregate = (): AggregateRecord => ({
    type: "aggregate",
    scope: r.pick(AGGREGATE_SCOPES),
    count: count(),
    ts_ns: i64(),
    last_ts_ns: i64(),
    boot_ns: u64(),
    last_boot_ns: u64(),
    hook: r.pick(HOOK_NAMES),
    pid: orNull(u32),
    tid: orNull(u32),
    ppid: orNull(u32),
    uid: orNull(u32),
    gid: orNull(u32),
    euid: orNull(u32),
    loginuid: orNull(u32),
    sessionid: orNull(u32),
    comm: orNull(textOrBytes),
    parent_comm: orNull(textOrBytes),
    exe: orNull(text),
    cgroup_id: orNull(u64),
    container_id: orNull(text),
    mntns: orNull(u32),
    pidns: orNull(u32),
    utsns: orNull(u32),
    cap_effective: orNull(u64),
    cap_sys_module: orNull(() => r.chance(0.5)),
    name_ptr: orNull(u64),
    name_entry: orNull(bytes),
    name_entry_err: orNull(i32),
    name_exit: orNull(bytes),
    name_exit_err: orNull(i32),
    name_kernel: orNull(bytes),
    name: orNull(bytes),
    flags: orNull(u32),
    flags_names: texts(),
    ret: orNull(safe),
    errno: orNull(text),
    toctou: orNull(() => r.chance(0.5)),
    toctou_reason: reasons(),
    ...image(),
  });
  const clock = (): ClockRecord => ({ type: "clock", ts_ns: i64(), boot_ns: u64(), prev_boot_ns: u64(), old_boot_to_wall_ns: i64(), boot_to_wall_ns: i64() });
  return Array.from({ length: n }, () => r.pick([event, loss, aggregate, clock])());
}

/** A fixed clock for seals, so that files written twice are identical. */
export const FIXED_NOW = () => 1764118700000000000n;

export function writeCapture(
  path: string,
  items: SegmentItem[],
  opts: WriterOptions & { header?: CaptureHeader } = {},
): CaptureWriter {
  const w = CaptureWriter.create(path, opts.header ?? header, { nowNs: FIXED_NOW, newKey: pinnedKeys(), ...opts });
  for (const item of items) w.write(item);
  w.close();
  return w;
}

export function readAll(path: string, opts?: ReadOptions): { items: CaptureItem[]; error: unknown } {
  const items: CaptureItem[] = [];
  try {
    for (const item of readCapture(path, opts)) items.push(item);
    return { items, error: undefined };
  } catch (error) {
    return { items, error };
  }
}

export type WholeFrame = ZstdFrame & { kind: "standard" | "skippable" };

/** The standard and skippable frames of a file (throws on anything else). */
export function framesOf(bytes: Uint8Array): WholeFrame[] {
  return [...walkFrames(bytes)].map((f) => {
    if (f.kind !== "standard" && f.kind !== "skippable") throw new Error(`unexpected frame ${JSON.stringify(f)}`);
    return f;
  });
}


/** A capture cut into its parts, as byte ranges of the file. */
export interface Anatomy {
  bytes: Uint8Array;
  header: WholeFrame;
  segments: { data: WholeFrame; trailer: WholeFrame }[];
  seal: WholeFrame | null;
}

/** Cuts a file written by CaptureWriter into header frame, segments (data + trailer) and seal. */
export function anatomy(bytes: Uint8Array): Anatomy {
  const frames = framesOf(bytes);
  const [head, ...rest] = frames;
  if (head?.kind !== "standard") throw new Error("no header frame");
  const segments: Anatomy["segments"] = [];
  let seal: WholeFrame | null = null;
  for (let i = 0; i < rest.length; i++) {
    const f = rest[i]!;
    if (f.kind === "standard") {
      const t = rest[++i];
      if (t?.kind !== "skippable") throw new Error(`data frame at ${f.offset} without trailer`);
      segments.push({ data: f, trailer: t });
    } else {
      if (i !== rest.length - 1) throw new Error("skippable frame before the end that is not a trailer");
      seal = f;
    }
  }
  return { bytes, header: head, segments, seal };
}

/** The bytes of a frame, or of a segment (data + trailer). */
export function slice(bytes: Uint8Array, from: { offset: number; length: number }, to = from): Uint8Array {
  return bytes.subarray(from.offset, to.offset + to.length);
}

/** A file of standard frames, each holding the given values encoded by cborg (an independent encoder). */
export function rawCapture(path: string, frames: unknown[][], encode: (v: unknown) => Uint8Array = (v) => cborgEncode(v)) {
  writeFileSync(path, concat(frames.map((values) => zstdCompress(concat(values.map(encode))))));
}

/** Decodes a CBOR sequence with cborg, which refuses tags it does not know. */
export function cborgSequence(bytes: Uint8Array): unknown[] {
  const values: unknown[] = [];
  for (let rest: Uint8Array = bytes; rest.length > 0; ) {
    const [value, remainder] = decodeFirst(rest);
    values.push(value);
    rest = remainder;
  }
  return values;
}

/** A data item's head in a CBOR sequence, and the map key it is the value of, if any. */
export interface CborHead {
  offset: number;
  major: number;
  /** additional information: the argument itself below 24, else its size */
  ai: number;
  arg: number;
  key?: string;
}

/** Every head of a CBOR sequence of definite-length items, depth first. Map keys are taken to be short text. */
export function cborHeads(b: Uint8Array): CborHead[] {
  const heads: CborHead[] = [];
  let pos = 0;
  const item = (key?: string): void => {
    const offset = pos;
    const major = b[pos]! >> 5;
    const ai = b[pos]! & 31;
    pos++;
    let arg = ai;
    if (ai >= 24 && ai <= 27) {
      const n = 1 << (ai - 24);
      arg = 0;
      for (let i = 0; i < n; i++) arg = arg * 256 + b[pos + i]!;
      pos += n;
    }
    heads.push({ offset, major, ai, arg, key });
    if (major === 2 || major === 3) pos += arg;
    for (let i = 0; major === 4 && i < arg; i++) item();
    for (let i = 0; major === 5 && i < arg; i++) {
      const keyAt = pos;
      item();
      item(new TextDecoder().decode(b.subarray(keyAt + 1, pos)));
    }
  };
  while (pos < b.length) item();
  return heads;
}

/** The head's argument takes no more bytes than it needs. */
export function isShortest(h: CborHead): boolean {
  return h.ai < 24 || h.arg >= [24, 0x100, 0x10000, 2 ** 32][h.ai - 24]!;
}

/** Integer-typed values compared by value (cborg and cbor-x differ on number vs bigint), bytes by content. */
export function canonical(v: unknown): unknown {
  if (typeof v === "bigint" || typeof v === "number") return `int:${v}`;
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString("hex")}`;
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}

export function isSubsequence(part: unknown[], whole: unknown[]): boolean {
  let j = 0;
  for (const x of part) {
    while (j < whole.length && !Bun.deepEquals(x, whole[j], true)) j++;
    if (j++ >= whole.length) return false;
  }
  return true;
}

export function run(cmd: string[], stdin?: Uint8Array) {
  const r = Bun.spawnSync(cmd, { cwd: ROOT, stdin });
  return { code: r.exitCode, stdout: new Uint8Array(r.stdout), stderr: r.stderr.toString() };
}

export const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** The CBOR bytes of one segment item, as the writer writes them. */
export function itemBytes(item: SegmentItem): Uint8Array {
  const e = new SegmentEncoder();
  e.append(item);
  return e.contents().slice();
}

/** Length of the data item at bytes[pos], measured by cborg (an independent decoder). */
function itemLength(bytes: Uint8Array, pos: number): number {
  const rest = bytes.subarray(pos);
  return rest.length - decodeFirst(rest)[1].length;
}

/**
 * Where the value of `path` ("pid", "set.file_index") is in the CBOR map at
 * bytes[from]: [start, end). Maps of up to 255 pairs with text keys.
 */
export function valueAt(bytes: Uint8Array, path: string, from = 0): { start: number; end: number } {
  const [key, ...rest] = path.split(".");
  const ib = bytes[from]!;
  const n = ib === 0xb8 ? bytes[from + 1]! : ib & 0x1f;
  let pos = from + (ib === 0xb8 ? 2 : 1);
  for (let i = 0; i < n; i++) {
    const keyLength = itemLength(bytes, pos);
    const k = decodeFirst(bytes.subarray(pos, pos + keyLength))[0];
    pos += keyLength;
    const end = pos + itemLength(bytes, pos);
    if (k === key) return rest.length === 0 ? { start: pos, end } : valueAt(bytes, rest.join("."), pos);
    pos = end;
  }
  throw new Error(`no key ${key}`);
}

/** The map `bytes` with the value of `path` replaced by the raw CBOR `value`. */
export function withValue(bytes: Uint8Array, path: string, value: number[] | Uint8Array): Uint8Array {
  const { start, end } = valueAt(bytes, path);
  return concat([bytes.subarray(0, start), new Uint8Array(value), bytes.subarray(end)]);
}

/** The map `bytes` (of up to 254 pairs) with one more pair, its key and value given as raw CBOR. */
export function withPair(bytes: Uint8Array, key: number[] | Uint8Array, value: number[] | Uint8Array): Uint8Array {
  const ib = bytes[0]!;
  const n = (ib === 0xb8 ? bytes[1]! : ib & 0x1f) + 1;
  const head = n < 24 ? [0xa0 | n] : [0xb8, n];
  return concat([new Uint8Array(head), bytes.subarray(ib === 0xb8 ? 2 : 1), new Uint8Array(key), new Uint8Array(value)]);
}
