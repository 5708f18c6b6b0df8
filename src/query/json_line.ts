// The JSON view of an event or aggregate (render.ts, toJsonRecord) written
// straight to text: exactly JSON.stringify(toJsonRecord(item)), without the
// intermediate object. At a million events building ~45-key objects and
// stringifying them was most of an export's time; a test holds the two
// equal on every fixture and on random and hostile items.
import { bytesEqual, toHex } from "../bytes.ts";
import type { AggregateRecord, ClockRecord, DmrecEvent, LossRecord, ProcessImage, SegmentItem } from "../event.ts";
import { asBytes, escapeBytes } from "./escape.ts";
import { nsToIso } from "./time.ts";

// What JSON.stringify escapes in a string: quote, backslash, controls, surrogates (it
// keeps well-formed pairs, which are rare here). A loop: a regular expression with a
// surrogate range took most of the time of these short strings.
function str(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}
const strOrNull = (s: string | null) => (s === null ? "null" : str(s));
const numOrNull = (n: number | null) => (n === null ? "null" : String(n));
const boolOrNull = (b: boolean | null) => (b === null ? "null" : b ? "true" : "false");
// A bigint's own toString costs several times a number's: below 2^53 (every 64-bit
// field but a wall-clock time) it goes through a number.
// (A bigint beyond 2^53 never converts to a safe integer: it rounds to 2^53 or more.)
const dec = (v: bigint) => {
  const n = Number(v);
  return Number.isSafeInteger(n) ? String(n) : String(v);
};
const decimalOrNull = (v: bigint | null) => (v === null ? "null" : `"${dec(v)}"`);

// A record's time as "time" and "ts_ns" (or "last_time" and "last_ts_ns") from one split:
// the second's texts are kept while records fall within it, as they come in time order.
const NS_PER_S = 1_000_000_000n;
let secStart = 0n;
let secEnd = 0n;
let secIso = "";
let secDecimal = "";
const ZEROS = ["", "0", "00", "000", "0000", "00000", "000000", "0000000", "00000000"];
function timeFields(isoKey: string, nsKey: string, ns: bigint): string {
  if (ns >= secStart && ns < secEnd) {
    const digits = String(Number(ns - secStart));
    const frac = ZEROS[9 - digits.length] + digits;
    return `"${isoKey}":"${secIso}.${frac}Z","${nsKey}":"${secDecimal}${frac}"`;
  }
  const iso = nsToIso(ns);
  // Before the epoch's first second the decimal text is not the second's and the fraction's.
  if (ns >= NS_PER_S) {
    secStart = ns - (ns % NS_PER_S);
    secEnd = secStart + NS_PER_S;
    secIso = iso.slice(0, -11);
    secDecimal = String(secStart / NS_PER_S);
  }
  return `"${isoKey}":"${iso}","${nsKey}":"${ns}"`;
}
const capOrNull = (v: bigint | null) => (v === null ? "null" : `"${v.toString(16).padStart(16, "0")}"`);

function list(items: readonly string[]): string {
  let out = "[";
  for (let i = 0; i < items.length; i++) out += (i === 0 ? "" : ",") + str(items[i]!);
  return `${out}]`;
}

/** A byte string's two JSON values: the escaped text and the hex, both quoted. */
interface QuotedView {
  text: string;
  hex: string;
}

const NULL_VIEW: QuotedView = { text: "null", hex: "null" };

function quotedView(bytes: Uint8Array): QuotedView {
  return { text: str(escapeBytes(bytes)), hex: `"${toHex(bytes)}"` };
}

// The names of a record usually hold equal bytes, and a flood repeats the previous
// record's: compare with the last one seen before converting.
let lastBytes: Uint8Array | null = null;
let lastView: QuotedView = NULL_VIEW;
function bytesView(bytes: Uint8Array | null): QuotedView {
  if (bytes === null) return NULL_VIEW;
  if (lastBytes !== null && bytesEqual(bytes, lastBytes)) return lastView;
  lastBytes = bytes;
  lastView = quotedView(bytes);
  return lastView;
}

// Command names are few and come as text: each converted once, the cache bounded
// because a crafted capture can hold a new one in every record.
const COMM_CACHE_MAX = 4096;
const commViews = new Map<string, QuotedView>();
let lastComm = "";
let lastCommView: QuotedView = { text: '""', hex: '""' };
function commView(comm: string | Uint8Array | null): QuotedView {
  if (comm === null) return NULL_VIEW;
  if (typeof comm !== "string") return quotedView(comm);
  if (comm === lastComm) return lastCommView;
  let view = commViews.get(comm);
  if (view === undefined) {
    if (commViews.size >= COMM_CACHE_MAX) commViews.clear();
    view = quotedView(asBytes(comm));
    commViews.set(comm, view);
  }
  lastComm = comm;
  lastCommView = view;
  return view;
}

// An event's text in three parts that change at different rates: its time and thread;
// its process context; its name reads and outcome. In a flood the last two repeat from
// one event to the next and are kept: a line with fewer pieces is also cheaper for the
// engine to lay out as one string.
/** A string made once and used many times: laid out flat now rather than at every use. */
function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}

/**
 * A kept part's text, and into a sink: as text when first used, and as the bytes it
 * encodes to from its second use on. Encoding each part at once cost a new array per
 * event where nothing repeats.
 */
class Kept {
  text = "";
  private bytes: Uint8Array | null = null;
  private used = false;
  set(text: string): void {
    this.text = flat(text);
    this.bytes = null;
    this.used = false;
  }
  into(sink: TextSink): void {
    if (this.bytes !== null) sink.bytes(this.bytes);
    else if (this.used) sink.bytes((this.bytes = utf8.encode(this.text)));
    else {
      this.used = true;
      sink.text(this.text);
    }
  }
}
const utf8 = new TextEncoder();

// The event each part was made from: the next is compared with it field by field.
let ctxOf: DmrecEvent | null = null;
const ctx = new Kept();
let callOf: DmrecEvent | null = null;
const call = new Kept();

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);
const sameBytes = (a: Uint8Array | null, b: Uint8Array | null) => (a === null || b === null ? a === b : bytesEqual(a, b));

/** Whether two records hold the same values (===) under `keys`: straight-line code, made once. */
function sameValues<T>(keys: readonly (keyof T & string)[]): (a: T, b: T) => boolean {
  return new Function("a", "b", `return ${keys.map((k) => `a.${k} === b.${k}`).join(" && ")};`) as (a: T, b: T) => boolean;
}

// A byte-string command (not UTF-8) is compared by identity: the same only where the
// decoder shared one array between records, a miss costing a render, never a wrong text.
const sameCtx = sameValues<DmrecEvent>([
  "comm", "parent_comm", "ppid", "uid", "gid", "euid", "loginuid", "sessionid", "exe",
  "cgroup_id", "container_id", "mntns", "pidns", "utsns", "cap_effective", "cap_sys_module",
]);

// The names and lists may be new arrays in each event: compared by their elements.
const sameCallValues = sameValues<DmrecEvent>(["flags", "ret", "errno", "freed", "forced", "toctou", "name_entry_err", "name_exit_err"]);
const sameCall = (a: DmrecEvent, b: DmrecEvent) =>
  sameCallValues(a, b) &&
  sameBytes(a.name_entry, b.name_entry) &&
  sameBytes(a.name_exit, b.name_exit) &&
  sameBytes(a.name_kernel, b.name_kernel) &&
  sameBytes(a.name, b.name) &&
  sameList(a.flags_names, b.flags_names) &&
  sameList(a.toctou_reason, b.toctou_reason);

/** Brings the kept parts up to `ev`; returns the text before them. */
function eventHead(ev: DmrecEvent): string {
  if (ctxOf === null || !sameCtx(ctxOf, ev)) {
    const comm = commView(ev.comm);
    const parent = commView(ev.parent_comm);
    ctxOf = ev;
    ctx.set(
      `,"ppid":${ev.ppid},"uid":${ev.uid},"gid":${ev.gid},"euid":${ev.euid},` +
        `"loginuid":${ev.loginuid},"sessionid":${ev.sessionid},"comm":${comm.text},"comm_hex":${comm.hex},` +
        `"parent_comm":${parent.text},"parent_comm_hex":${parent.hex},"exe":${strOrNull(ev.exe)},"cgroup_id":"${dec(ev.cgroup_id)}",` +
        `"container_id":${strOrNull(ev.container_id)},"mntns":${ev.mntns},"pidns":${ev.pidns},"utsns":${ev.utsns},` +
        `"cap_effective":${capOrNull(ev.cap_effective)},"cap_sys_module":${boolOrNull(ev.cap_sys_module)}`,
    );
  }
  if (callOf === null || !sameCall(callOf, ev)) {
    const entry = bytesView(ev.name_entry);
    const exit = bytesView(ev.name_exit);
    const kernel = bytesView(ev.name_kernel);
    const name = bytesView(ev.name);
    callOf = ev;
    call.set(
      `,"name_entry":${entry.text},"name_entry_hex":${entry.hex},"name_entry_err":${numOrNull(ev.name_entry_err)},` +
        `"name_exit":${exit.text},"name_exit_hex":${exit.hex},"name_exit_err":${numOrNull(ev.name_exit_err)},` +
        `"name_kernel":${kernel.text},"name_kernel_hex":${kernel.hex},"name":${name.text},"name_hex":${name.hex},` +
        `"flags":${ev.flags},"flags_names":${list(ev.flags_names)},"ret":${ev.ret},"errno":${strOrNull(ev.errno)},` +
        `"freed":${boolOrNull(ev.freed)},"forced":${boolOrNull(ev.forced)},"toctou":${boolOrNull(ev.toctou)},"toctou_reason":${list(ev.toctou_reason)}`,
    );
  }
  return (
    `{"type":"event",${timeFields("time", "ts_ns", ev.ts_ns)},"boot_ns":"${dec(ev.boot_ns)}","duration_ns":"${dec(ev.duration_ns)}",` +
    `"hook":${str(ev.hook)},"pid":${ev.pid},"tid":${ev.tid}`
  );
}

const namePtr = (ev: DmrecEvent) => `,"name_ptr":"${dec(ev.name_ptr)}"`;

function eventLine(ev: DmrecEvent): string {
  const head = eventHead(ev);
  return `${head}${ctx.text}${namePtr(ev)}${call.text}${imageText(ev)}`;
}

// What the task ran: a part of its own, kept while it repeats (its argv, a list of byte
// strings, is compared by content).
let imageOf: ProcessImage | null = null;
const image = new Kept();

const sameArgs = (a: Uint8Array[] | null, b: Uint8Array[] | null) =>
  a === null || b === null ? a === b : a.length === b.length && a.every((x, i) => bytesEqual(x, b[i]!));
const sameImageValues = sameValues<ProcessImage>([
  "exe_inode", "exe_dev", "exe_deleted", "exe_truncated", "exe_unreachable", "parent_exe", "argv_err", "argv_truncated", "tty",
]);
const sameImage = (a: ProcessImage, b: ProcessImage) => sameImageValues(a, b) && sameArgs(a.argv, b.argv);

/** The ProcessImage fields and the record's closing brace. */
function imageText(it: ProcessImage): string {
  if (imageOf !== null && sameImage(imageOf, it)) return image.text;
  imageOf = it;
  const argv = it.argv === null ? "null" : list(it.argv.map(escapeBytes));
  const argvHex = it.argv === null ? "null" : list(it.argv.map(toHex));
  image.set(
    `,"exe_inode":${decimalOrNull(it.exe_inode)},"exe_dev":${strOrNull(it.exe_dev)},"exe_deleted":${boolOrNull(it.exe_deleted)},` +
      `"exe_truncated":${boolOrNull(it.exe_truncated)},"exe_unreachable":${boolOrNull(it.exe_unreachable)},"parent_exe":${strOrNull(it.parent_exe)},` +
      `"argv":${argv},"argv_hex":${argvHex},"argv_err":${numOrNull(it.argv_err)},"argv_truncated":${boolOrNull(it.argv_truncated)},` +
      `"tty":${strOrNull(it.tty)}}`,
  );
  return image.text;
}

function aggregateLine(a: AggregateRecord): string {
  const comm = commView(a.comm);
  const parent = commView(a.parent_comm);
  const entry = bytesView(a.name_entry);
  const exit = bytesView(a.name_exit);
  const kernel = bytesView(a.name_kernel);
  const name = bytesView(a.name);
  return (
    `{"type":"aggregate","scope":${str(a.scope)},"count":${a.count},${timeFields("time", "ts_ns", a.ts_ns)},` +
    `${timeFields("last_time", "last_ts_ns", a.last_ts_ns)},"boot_ns":"${dec(a.boot_ns)}","last_boot_ns":"${dec(a.last_boot_ns)}",` +
    `"hook":${str(a.hook)},"pid":${numOrNull(a.pid)},"tid":${numOrNull(a.tid)},"ppid":${numOrNull(a.ppid)},"uid":${numOrNull(a.uid)},` +
    `"gid":${numOrNull(a.gid)},"euid":${numOrNull(a.euid)},"loginuid":${numOrNull(a.loginuid)},"sessionid":${numOrNull(a.sessionid)},` +
    `"comm":${comm.text},"comm_hex":${comm.hex},"parent_comm":${parent.text},"parent_comm_hex":${parent.hex},"exe":${strOrNull(a.exe)},` +
    `"cgroup_id":${decimalOrNull(a.cgroup_id)},"container_id":${strOrNull(a.container_id)},"mntns":${numOrNull(a.mntns)},` +
    `"pidns":${numOrNull(a.pidns)},"utsns":${numOrNull(a.utsns)},"cap_effective":${capOrNull(a.cap_effective)},` +
    `"cap_sys_module":${boolOrNull(a.cap_sys_module)},"name_ptr":${decimalOrNull(a.name_ptr)},` +
    `"name_entry":${entry.text},"name_entry_hex":${entry.hex},"name_entry_err":${numOrNull(a.name_entry_err)},` +
    `"name_exit":${exit.text},"name_exit_hex":${exit.hex},"name_exit_err":${numOrNull(a.name_exit_err)},` +
    `"name_kernel":${kernel.text},"name_kernel_hex":${kernel.hex},"name":${name.text},"name_hex":${name.hex},` +
    `"flags":${numOrNull(a.flags)},"flags_names":${list(a.flags_names)},"ret":${numOrNull(a.ret)},"errno":${strOrNull(a.errno)},` +
    `"toctou":${boolOrNull(a.toctou)},"toctou_reason":${list(a.toctou_reason)}${imageText(a)}`
  );
}

function lossLine(l: LossRecord): string {
  return `{"type":"loss",${timeFields("time", "ts_ns", l.ts_ns)},"count":${l.count},"reason":${str(l.reason)}}`;
}

function clockLine(c: ClockRecord): string {
  return (
    `{"type":"clock",${timeFields("time", "ts_ns", c.ts_ns)},"boot_ns":"${dec(c.boot_ns)}","prev_boot_ns":"${dec(c.prev_boot_ns)}",` +
    `"old_boot_to_wall_ns":"${dec(c.old_boot_to_wall_ns)}","boot_to_wall_ns":"${dec(c.boot_to_wall_ns)}","step_ns":"${dec(c.boot_to_wall_ns - c.old_boot_to_wall_ns)}"}`
  );
}

/** JSON.stringify(toJsonRecord(item)), several times faster. */
export function jsonLine(item: SegmentItem): string {
  switch (item.type) {
    case "event":
      return eventLine(item);
    case "aggregate":
      return aggregateLine(item);
    case "loss":
      return lossLine(item);
    case "clock":
      return clockLine(item);
  }
}

/** Where a record's text goes in pieces: text to encode, and bytes encoded before. */
export interface TextSink {
  text(s: string): void;
  bytes(b: Uint8Array): void;
}

/**
 * jsonLine(item) as UTF-8 into `sink`: an event's kept parts, once they repeat, are
 * copied as the bytes they were encoded to. Encoding each line as one new string cost
 * twice its rendering.
 */
export function jsonLineInto(item: SegmentItem, sink: TextSink): void {
  if (item.type !== "event") return sink.text(jsonLine(item));
  sink.text(eventHead(item));
  ctx.into(sink);
  sink.text(namePtr(item));
  call.into(sink);
  imageText(item);
  image.into(sink);
}
